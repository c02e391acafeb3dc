"""The feed layer: feed bytes to entries with a stable identity, and their intake into the queue.

Polling and WebSub pushes both come through here: parse.py (RSS, Atom, RDF and JSON Feed to
entries, with the delta parse of a changed body), layout.py (where each item sits in the bytes),
model.py (what a configured feed is to this layer), intake.py (queue what was never seen) and
opml.py (feed lists in and out).
"""
