"""WebSub (W3C, formerly PubSubHubbub): subscribe at the hubs feeds name, take their pushes.

The poller records each feed's hub and topic (discovery.py) after a changed body was parsed; the
`websub` process subscribes, renews and unsubscribes (manager.py) and answers the hub's
verification requests and content pushes on its HTTP listener (listener.py, callbacks.py). A
push goes through the same parser, entry identity and seen-entry set as a poll, so an entry is
queued once whichever brings it first. Polling goes on at its usual interval: a push only brings
entries sooner. Pure decisions are in decisions.py; Redis in store.py.
"""
