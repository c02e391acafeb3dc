"""What the feed layer needs of a configured feed, whoever holds it (config, tests, benches)."""

from __future__ import annotations

from typing import Protocol


class FeedLike(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def interval(self) -> float: ...
    @property
    def tags(self) -> list[str]: ...


def feed_name(feed: FeedLike) -> str:
    return feed.name or feed.url
