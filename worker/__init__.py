"""wirewatch: feeds in, deduplicated keyword alerts out as signed webhooks."""

__version__ = "0.1.0"
