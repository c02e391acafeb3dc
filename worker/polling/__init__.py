"""Polling: fetch feeds on schedule, parse them, queue new entries."""
