"""The records that travel between stages, and their (de)serialisation to flat JSON.

A FeedItem goes from the scheduler to the workers on the items stream; an Article is what a worker
makes of it; an alert (a plain dict in the webhook `data` shape) goes to the notifier.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeedItem:
    """One feed entry, as the scheduler queued it."""

    feed_url: str
    feed_name: str
    entry_id: str
    link: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    published_at: str = ""  # ISO-8601 or ""
    tags: list[str] = field(default_factory=list)  # the feed's configured tags, then the entry's
    feed_tags: list[str] = field(default_factory=list)  # the feed's configured tags alone
    # fields cut to fit scheduler.max_item_bytes -> their length before (worker/polling/newitems.py)
    trimmed: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> FeedItem:
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Article:
    """An item after fetching and extraction: the text that rules run against."""

    url: str
    canonical_url: str
    title: str
    text: str
    author: str = ""
    published_at: str = ""
    published_at_source: str = ""  # "feed", "page" or "guess" (worker/extraction/published.py)
    language: str = ""
    site: str = ""  # the article's host name, for `site:` queries
    feed_url: str = ""
    feed_name: str = ""
    feed_tags: list[str] = field(default_factory=list)  # configured and entry tags (`feed:`)
    configured_tags: list[str] = field(default_factory=list)  # the feed's, from the config
    source: str = "page"  # "page" when extracted from the fetched page, "feed" when it fell back
    fallback_reason: str = ""  # why it fell back to the feed's own text, when it did

    def payload(self) -> dict[str, Any]:
        """The `article` object of the webhook payload."""
        return {
            "url": self.url,
            "canonical_url": self.canonical_url,
            "title": self.title,
            "published_at": self.published_at or None,
            "published_at_source": self.published_at_source or None,
            "author": self.author or None,
            "language": self.language or None,
            "feed": {"url": self.feed_url, "name": self.feed_name, "tags": self.configured_tags},
        }
