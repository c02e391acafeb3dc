"""A configured feed as the polling code sees it (`worker.polling.poller.FeedLike`), for tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Feed:
    url: str
    name: str | None = None
    interval: float = 900.0
    tags: list[str] = field(default_factory=list)
