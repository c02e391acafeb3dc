"""Intake: queue the entries never seen before, atomically with marking them seen.

Entry identities live in a sorted set per feed, scored by when each was last seen: an entry is
queued the first time only, and forgotten once it has been absent from its feed for the
retention time or has fallen out of what the feed can still show (seen.py). Polls and WebSub
pushes both come through here, so an entry is queued once whichever brings it first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worker.feeds.newitems import (
    DEFAULT_MAX_ITEM_BYTES,
    DEFAULT_MAX_NEW_ITEMS,
    fit_item,
    newest_first,
)
from worker.queue.connection import Client
from worker.queue.keys import Keys, shard_of, short_hash
from worker.queue.partitions import ItemShards
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


@dataclass(frozen=True)
class IntakeLimits:
    retention_s: float  # an entry absent from its feed this long is forgotten
    max_new_items: int = DEFAULT_MAX_NEW_ITEMS  # queued per call, newest first (newitems.py)
    max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES  # JSON of one queued item; longer text trimmed
    partitions: int = 1  # items shards (`queue.partitions`): a feed's entries go to its own


@dataclass(frozen=True)
class Queued:
    added: int  # items queued
    deferred: int  # new items left for later polls (max_new_items)


def seen_member(item: FeedItem) -> str:
    """The entry's member in its feed's seen set (Keys.feed_seen)."""
    return short_hash(item.entry_id)


class EntryIntake:
    def __init__(
        self, client: Client, keys: Keys, clock: Callable[[], float], limits: IntakeLimits, log: Any
    ) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.limits = limits
        self.log = log
        self._enqueue = client.register_script(_ENQUEUE_NEW)
        # Item partition counts used before this one: a feed's seen set may be in another shard.
        counts = ItemShards(client, keys, limits.partitions).used()
        self._other_counts = sorted(counts - {limits.partitions})

    def enqueue(
        self,
        feed_url: str,
        items: Sequence[FeedItem],
        also_seen: Sequence[str] = (),
        keep: int = 0,
        formers: Sequence[str] = (),
    ) -> Queued:
        """Queue the items (all of `feed_url`) whose identity was never seen, at most
        `max_new_items` of them, the newest; atomic with marking them seen, and marking seen
        again the members `also_seen` (items of the body not parsed again). New items over the
        limit are neither queued nor marked seen: later polls bring them. `formers` holds, per
        item, the entry hash of its identity under an earlier rule, or "" (guids.py): an item
        seen under it counts as seen, so an upgrade queues nothing twice. With `keep`, the feed's
        seen set is cut to its `keep` most recently seen entries (seen.py); a partial body (a
        WebSub push) passes 0.

        Many entries (a feed's first poll, or one parsed whole) mostly repeat entries already
        seen, so they are looked up first and only the unknown ones are serialised (JSON is
        most of the cost past feedparser); a few are sent as they are, saving that round trip.
        The script checks again: an entry known here but forgotten meanwhile (retention) was
        queued back then, and is only marked seen again."""
        if not items and not also_seen:
            return Queued(0, 0)
        now = self.clock()
        members = [seen_member(item) for item in items]
        shard = shard_of(feed_url, self.limits.partitions)
        moved = self._former_seen_sets(feed_url, shard)
        seen = self._seen(feed_url, members, formers, moved)
        unseen = [i for i, was_seen in enumerate(seen) if not was_seen]
        chosen = newest_first(items, unseen, self.limits.max_new_items)
        args: list[Any] = [now, now - self.limits.retention_s, keep, short_hash(feed_url)]
        for index in sorted(chosen.queue):  # in document order, as before
            args += [members[index], self._serialised(items[index])]
        for member, was_seen in zip(members, seen, strict=True):
            if was_seen:
                args += [member, ""]
        for member in also_seen:
            args += [member, ""]
        keys = [
            self.keys.feed_seen_in(shard, feed_url),
            self.keys.seen_entries_of(shard),
            self.keys.items_stream_of(shard),
        ]
        queued = Queued(int(self._enqueue(keys=keys, args=args)), chosen.deferred)
        self._forget(moved)
        return queued

    def _former_seen_sets(self, feed_url: str, shard: int) -> list[str]:
        """The feed's seen sets in the shards other partition counts put it in (still there
        until its first intake under this count moves what they hold)."""
        others = {shard_of(feed_url, n) for n in self._other_counts} - {shard}
        if not others:
            return []
        names = [self.keys.feed_seen_in(k, feed_url) for k in sorted(others)]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.exists(name)
        return [name for name, found in zip(names, pipe.execute(), strict=True) if found]

    def _forget(self, moved: Sequence[str]) -> None:
        """Delete former seen sets once what they held is in the feed's current one."""
        if moved:
            pipe = self.client.pipeline(transaction=False)
            for name in moved:
                pipe.delete(name)
            pipe.execute()

    def _seen(
        self,
        feed_url: str,
        members: Sequence[str],
        formers: Sequence[str],
        moved: Sequence[str] = (),
    ) -> list[bool]:
        """Whether each member, or its former identity, is in the feed's seen set or in the
        index of earlier versions (as `<feed hash>:<entry hash>`). A few members with no former
        are not looked up (the script checks each again before queueing). `moved` are the
        feed's seen sets under earlier partition counts: a member in one counts as seen."""
        wanted = [f for f in formers if f]
        few = min(_SERIALISE_WITHOUT_LOOKUP, self.limits.max_new_items)
        if len(members) <= few and not wanted and not moved:
            return [False] * len(members)
        feed_part = short_hash(feed_url)
        names = [*members, *wanted]
        shard = shard_of(feed_url, self.limits.partitions)
        pipe = self.client.pipeline(transaction=False)
        pipe.zmscore(self.keys.feed_seen_in(shard, feed_url), names)
        pipe.zmscore(self.keys.seen_entries_of(shard), [f"{feed_part}:{name}" for name in names])
        for former_set in moved:
            pipe.zmscore(former_set, names)
        in_feed, in_legacy, *in_moved = pipe.execute()
        lookups = [in_feed, in_legacy, *in_moved]
        found = [any(s is not None for s in scores) for scores in zip(*lookups, strict=True)]
        former_found = iter(found[len(members) :])
        by_former = [bool(f) and next(former_found) for f in formers] or [False] * len(members)
        return [a or b for a, b in zip(found[: len(members)], by_former, strict=True)]

    def _serialised(self, item: FeedItem) -> str:
        """The item's JSON, its long text trimmed to `max_item_bytes` (newitems.fit_item)."""
        fitted = fit_item(item, self.limits.max_item_bytes)
        if fitted.trimmed:
            self.log.warning("feed_item_trimmed", feed=item.feed_name, entry=item.entry_id[:200],
                             trimmed=fitted.trimmed,
                             max_item_bytes=self.limits.max_item_bytes)  # fmt: skip
        return fitted.to_json()
