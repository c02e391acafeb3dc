"""Polling: when each feed is fetched, by which scheduler, and what the answer does to its state.

Parsing and intake are the feed layer (worker/feeds/); HTTP and host politeness are fetching.
"""
