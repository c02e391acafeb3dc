"""The items stream in shards (`queue.partitions`), and a worker's consumer over all of them.

With N partitions the scheduler's intake writes each feed's entries to shard `shard_of(feed, N)`
(keys.py), so a feed's seen set and its entries share one slot while the shards, each under its
own hash tag, spread over a Redis Cluster's nodes. A worker reads every shard through the same
consumer group: a pass over the shards, starting after the one that last gave entries, takes
the first shard's batch of own pending, dead instances' or abandoned entries, or new ones; when
no shard has any it waits for new entries (one blocking read over all the streams on a single
server; on a cluster, where one read may only name keys of one slot, shard by shard for a slice
of the wait each).

Changing N loses nothing: every count above 1 ever used is recorded in Redis and readers read
the shards of the largest (shard 0 keeps the unpartitioned names, so the stream of N = 1 is
always read). A feed whose shard changed finds its seen entries in its former shard's seen set
(the intake looks there too and moves them), so nothing is queued twice either. With N = 1 and
no count ever recorded, the worker uses one plain StreamConsumer on the names of before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.cluster import RedisCluster

from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.streams import Entry, StreamConsumer

_BURST_POLL_S = 0.2
_MIN_SLICE_MS = 50  # a cluster's per-shard wait: shorter would only spin
REFRESH_COUNT_EVERY_S = 10.0  # how soon a worker reads the shards of a count raised elsewhere


@dataclass(frozen=True)
class ItemShards:
    """How many items shards there are: the configured count, and every count used before."""

    client: Client
    keys: Keys
    configured: int

    def record(self) -> None:
        """Note the configured count once a count above 1 is or was ever in use (the first time,
        1 too if the unpartitioned stream was in use before: its feeds' seen sets are found)."""
        key = self.keys.items_partitions
        if self.client.exists(key):
            self.client.sadd(key, self.configured)
        elif self.configured > 1:
            before = [1] if self.client.exists(self.keys.items_stream) else []
            self.client.sadd(key, *before, self.configured)

    def used(self) -> set[int]:
        """Every count in use now or before (only the configured one if none was recorded)."""
        recorded: Any = self.client.smembers(self.keys.items_partitions)
        return {self.configured, *(int(n) for n in recorded)}

    def readable(self) -> int:
        """The shards to read: those of the largest count ever used (or configured now)."""
        return max(self.used())

    def streams(self) -> list[str]:
        return [self.keys.items_stream_of(k) for k in range(self.readable())]

    def dead_streams(self) -> list[str]:
        return [self.keys.items_dead_of(k) for k in range(self.readable())]


def qualified(shard: int, entry_id: str) -> str:
    """An entry's id as the sharded consumer hands it out: ids repeat across streams."""
    return f"{shard}/{entry_id}"


def unqualified(entry_id: str) -> tuple[int, str]:
    shard, _, plain = entry_id.partition("/")
    return int(shard), plain


@dataclass
class ShardedConsumer:
    """One instance's consumer of every items shard; the interface of StreamConsumer, with entry
    ids qualified by their shard (`<shard>/<id>`)."""

    client: Client
    make: Callable[[int], StreamConsumer]  # shard -> its consumer (group ensured by the caller)
    shard_count: Callable[[], int]  # the shards to read now (ItemShards.readable)
    shards: list[StreamConsumer] = field(default_factory=list)
    _start: int = field(default=0, init=False)
    _counted_at: float = field(default=float("-inf"), init=False)

    def ensure_group(self) -> None:
        self._grow()
        for shard in self.shards:
            shard.ensure_group()

    def read(self, count: int, block_ms: int | None) -> list[Entry]:
        """The next batch of one shard, the shards taken in turn; waits up to `block_ms` for new
        entries when none has any."""
        self._grow()
        for shard in self._in_turn():
            entries = self.shards[shard].read(count, None)
            if entries:
                self._start = (shard + 1) % len(self.shards)
                return self._qualify(shard, entries)
        return self._wait_new(count, block_ms) if block_ms else []

    def read_burst(self, count: int, wait_s: float) -> list[Entry]:
        """As StreamConsumer.read_burst, over every shard."""
        deadline = time.monotonic() + wait_s
        entries = self.read(count, None)
        while not entries and time.monotonic() < deadline and self._others_pending():
            time.sleep(_BURST_POLL_S)
            entries = self.read(count, None)
        return entries

    def ack(self, entry_id: str) -> None:
        shard, plain = unqualified(entry_id)
        self.shards[shard].ack(plain)

    def fail(self, entry: Entry, error: str) -> bool:
        shard, plain = unqualified(entry[0])
        return self.shards[shard].fail((plain, entry[1]), error)

    def retry_own_soon(self) -> None:
        for shard in self.shards:
            shard.retry_own_soon()

    def rewind_pending(self) -> None:
        for shard in self.shards:
            shard.rewind_pending()

    def trim(self) -> int:
        return sum(shard.trim() for shard in self.shards)

    def leave(self) -> None:
        for shard in self.shards:
            shard.leave()

    def _grow(self) -> None:
        """Add the shards of a count raised since (by a scheduler with a new config)."""
        if time.monotonic() - self._counted_at < REFRESH_COUNT_EVERY_S:
            return
        self._counted_at = time.monotonic()
        for shard in range(len(self.shards), self.shard_count()):
            consumer = self.make(shard)
            consumer.ensure_group()
            self.shards.append(consumer)

    def _in_turn(self) -> list[int]:
        n = len(self.shards)
        return [(self._start + i) % n for i in range(n)]

    def _qualify(self, shard: int, entries: list[Entry]) -> list[Entry]:
        return [(qualified(shard, eid), fields) for eid, fields in entries]

    def _wait_new(self, count: int, block_ms: int) -> list[Entry]:
        if not isinstance(self.client, RedisCluster):
            return self._wait_new_at_once(count, block_ms)
        # One slot per read on a cluster: each shard in turn, for a slice of the wait.
        slice_ms = max(_MIN_SLICE_MS, block_ms // len(self.shards))
        deadline = time.monotonic() + block_ms / 1000
        for shard in self._in_turn():
            entries = self.shards[shard].read_new(count, slice_ms)
            if entries:
                self._start = (shard + 1) % len(self.shards)
                return self._qualify(shard, entries)
            if time.monotonic() >= deadline:
                break
        return []

    def _wait_new_at_once(self, count: int, block_ms: int) -> list[Entry]:
        """One blocking XREADGROUP naming every shard's stream (a single server only)."""
        first = self.shards[0]
        by_stream = {s.stream: k for k, s in enumerate(self.shards)}
        reply: Any = self.client.xreadgroup(
            first.group, first.consumer, dict.fromkeys(by_stream, ">"), count=count, block=block_ms
        )
        # All of it: what the read delivered is pending here now, whichever stream it came from.
        return [
            (qualified(by_stream[stream], eid), fields)
            for stream, batch in reply or []
            for eid, fields in batch
            if fields
        ]

    def _others_pending(self) -> bool:
        return any(
            s.takeover is not None and s.takeover.others_pending(s.consumer) for s in self.shards
        )
