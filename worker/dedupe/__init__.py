"""Deduplication: exact (canonical URL, text hash) now; near-duplicate story clusters later."""
