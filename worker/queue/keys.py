"""Every Redis key wirewatch uses, in one place.

Keys are grouped under hash tags so that a stream and the helper keys its Lua scripts touch share
one Redis Cluster slot: `{<prefix>:items}` for the items stream, the seen-entry index and the
exact-dedupe keys; `{<prefix>:alerts}` for the alerts stream, the alert ids, pending deliveries and
the dead-letter stream; `{<prefix>:feeds}` for per-feed state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ITEMS_GROUP = "workers"
ALERTS_GROUP = "notifiers"


def short_hash(text: str) -> str:
    """A stable 16-hex-digit digest for a key component (URLs and ids can be long or odd)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Keys:
    prefix: str = "ww"

    # -- items: scheduler -> workers -------------------------------------------------------
    @property
    def _items(self) -> str:
        return f"{{{self.prefix}:items}}"

    @property
    def items_stream(self) -> str:
        return f"{self._items}:stream"

    @property
    def seen_entries(self) -> str:
        """Sorted set of `<feed hash>:<entry hash>`, scored by when the entry was last seen."""
        return f"{self._items}:seen"

    def dedupe_url(self, url_hash: str) -> str:
        return f"{self._items}:dedupe:url:{url_hash}"

    def dedupe_text(self, text_hash: str) -> str:
        return f"{self._items}:dedupe:text:{text_hash}"

    @property
    def items_dead(self) -> str:
        return f"{self._items}:dead"

    # -- alerts: workers -> notifier -------------------------------------------------------
    @property
    def _alerts(self) -> str:
        return f"{{{self.prefix}:alerts}}"

    @property
    def alerts_stream(self) -> str:
        return f"{self._alerts}:stream"

    def alert_marker(self, alert_id: str) -> str:
        """Exists once an alert was emitted: re-processing an item never emits it twice."""
        return f"{self._alerts}:emitted:{alert_id}"

    @property
    def deliveries_due(self) -> str:
        """Sorted set of delivery ids scored by the unix time their next attempt is due."""
        return f"{self._alerts}:due"

    @property
    def deliveries(self) -> str:
        """Hash: delivery id -> JSON record (alert, endpoint, attempt count, last error)."""
        return f"{self._alerts}:deliveries"

    @property
    def deliveries_dead(self) -> str:
        return f"{self._alerts}:dead"

    # -- feeds -----------------------------------------------------------------------------
    def feed_state(self, feed_url: str) -> str:
        return f"{{{self.prefix}:feeds}}:state:{short_hash(feed_url)}"

    def feed_lease(self, feed_url: str) -> str:
        return f"{{{self.prefix}:feeds}}:lease:{short_hash(feed_url)}"
