"""Intake: queue the entries never seen before, atomically with marking them seen.

Entry identities live in one sorted set scored by when each was last seen: an entry is queued
the first time only, and forgotten only after it has been absent from its feed for the retention
time. Polls and WebSub pushes both come through here, so an entry is queued once whichever brings
it first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys, short_hash
from worker.records import FeedItem

_ENQUEUE_NEW = """
local added = 0
for i = 3, #ARGV, 2 do
  local known = redis.call('ZSCORE', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  if not known and ARGV[i + 1] ~= '' then
    redis.call('XADD', KEYS[2], '*', 'item', ARGV[i + 1])
    added = added + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
return added
"""

_SERIALISE_WITHOUT_LOOKUP = 3  # up to this many parsed entries: no ZMSCORE trip first


def seen_member(item: FeedItem) -> str:
    return f"{short_hash(item.feed_url)}:{short_hash(item.entry_id)}"


class EntryIntake:
    def __init__(
        self, client: Client, keys: Keys, clock: Callable[[], float], retention_s: float
    ) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.retention_s = retention_s
        self._enqueue = client.register_script(_ENQUEUE_NEW)

    def enqueue(self, items: Sequence[FeedItem], also_seen: Sequence[str] = ()) -> int:
        """Queue the items whose identity was never seen; atomic with marking them seen, and
        marking seen again the members `also_seen` (items of the body not parsed again).

        Many entries (a feed's first poll, or one parsed whole) mostly repeat entries already
        seen, so they are looked up first and only the unknown ones are serialised (JSON is
        most of the cost past feedparser); a few are sent as they are, saving that round trip.
        The script checks again: an entry known here but forgotten meanwhile (retention) was
        queued back then, and is only marked seen again."""
        if not items and not also_seen:
            return 0
        now = self.clock()
        members = [seen_member(item) for item in items]
        scores: Any = [None] * len(items)
        if len(items) > _SERIALISE_WITHOUT_LOOKUP:
            scores = self.client.zmscore(self.keys.seen_entries, members)
        args: list[Any] = [now, now - self.retention_s]
        for item, member, score in zip(items, members, scores, strict=True):
            args += [member, "" if score is not None else item.to_json()]
        for member in also_seen:
            args += [member, ""]
        return int(self._enqueue(keys=[self.keys.seen_entries, self.keys.items_stream], args=args))
