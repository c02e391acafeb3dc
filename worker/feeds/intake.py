"""Intake: queue the entries never seen before, atomically with marking them seen.

Entry identities live in a sorted set per feed, scored by when each was last seen: an entry is
queued the first time only, and forgotten once it has been absent from its feed for the
retention time or has fallen out of what the feed can still show (seen.py). Polls and WebSub
pushes both come through here, so an entry is queued once whichever brings it first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys, short_hash
from worker.records import FeedItem

# KEYS: the feed's seen set, the index of earlier versions (all feeds), the items stream.
# ARGV: now, retention cutoff, entries to keep (0: no count limit), feed hash, then per entry:
# its hash and its JSON ("" to mark it seen only). An entry seen by an earlier version moves
# from the old index to its feed's set, so an upgrade queues nothing twice.
_ENQUEUE_NEW = """
local added = 0
for i = 5, #ARGV, 2 do
  local known = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if not known then
    local legacy = ARGV[4] .. ':' .. ARGV[i]
    known = redis.call('ZSCORE', KEYS[2], legacy)
    if known then redis.call('ZREM', KEYS[2], legacy) end
  end
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  if not known and ARGV[i + 1] ~= '' then
    redis.call('XADD', KEYS[3], '*', 'item', ARGV[i + 1])
    added = added + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local keep = tonumber(ARGV[3])
if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1)) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
return added
"""

_SERIALISE_WITHOUT_LOOKUP = 3  # up to this many parsed entries: no ZMSCORE trip first


def seen_member(item: FeedItem) -> str:
    """The entry's member in its feed's seen set (Keys.feed_seen)."""
    return short_hash(item.entry_id)


class EntryIntake:
    def __init__(
        self, client: Client, keys: Keys, clock: Callable[[], float], retention_s: float
    ) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.retention_s = retention_s
        self._enqueue = client.register_script(_ENQUEUE_NEW)

    def enqueue(
        self,
        feed_url: str,
        items: Sequence[FeedItem],
        also_seen: Sequence[str] = (),
        keep: int = 0,
    ) -> int:
        """Queue the items (all of `feed_url`) whose identity was never seen; atomic with
        marking them seen, and marking seen again the members `also_seen` (items of the body
        not parsed again). With `keep`, the feed's seen set is cut to its `keep` most recently
        seen entries (seen.py); a partial body (a WebSub push) passes 0.

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
            scores = self.client.zmscore(self.keys.feed_seen(feed_url), members)
        args: list[Any] = [now, now - self.retention_s, keep, short_hash(feed_url)]
        for item, member, score in zip(items, members, scores, strict=True):
            args += [member, "" if score is not None else item.to_json()]
        for member in also_seen:
            args += [member, ""]
        keys = [self.keys.feed_seen(feed_url), self.keys.seen_entries, self.keys.items_stream]
        return int(self._enqueue(keys=keys, args=args))
