"""Reading a Redis stream through a consumer group, at least once.

A consumer first re-reads its own pending entries (work it took before a crash or restart), then
the pending entries of consumers whose instance is dead (worker/queue/takeover.py: at once, by
their heartbeat leases), then entries idle too long under a live but stuck consumer
(XAUTOCLAIM after `claim_idle`), then new ones. Entries are
acked by the caller only after their effects are durable. An entry that fails `max_attempts` times
is moved, with its error, to a dead-letter stream so the entries behind it flow on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from worker.errors import QueueError
from worker.queue.connection import Client
from worker.queue.takeover import DeadTakeover
from worker.queue.trim import trim_acked

Entry = tuple[str, dict[str, str]]
_BURST_POLL_S = 0.2
# A failed entry stays pending under its consumer; it is tried again this soon (a Redis
# failover or a site's hiccup should cost seconds, not `claim_idle`).
RETRY_OWN_AFTER_S = 5.0


@dataclass
class StreamConsumer:
    client: Client
    stream: str
    group: str
    consumer: str
    dead_stream: str
    max_attempts: int = 5
    claim_idle_ms: int = 300_000
    takeover: DeadTakeover | None = None
    retry_own_after_s: float = RETRY_OWN_AFTER_S
    trim_every_s: float = 5.0  # how often reads trim the stream of what every group acked
    _pending_cursor: str | None = field(default="0", init=False)
    _retry_own_at: float | None = field(default=None, init=False)
    _trimmed_at: float = field(default=float("-inf"), init=False)

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise QueueError(f"cannot create consumer group on {self.stream}: {exc}") from exc

    def read(self, count: int, block_ms: int | None) -> list[Entry]:
        """The next batch: own pending entries first (one pass), then abandoned ones, then new.
        Now and then the stream is trimmed of the entries every group is done with (trim.py)."""
        if time.monotonic() - self._trimmed_at >= self.trim_every_s:
            self.trim()
        if self._retry_own_at is not None and time.monotonic() >= self._retry_own_at:
            self._retry_own_at = None
            self.rewind_pending()  # another pass over what failed here
        if self._pending_cursor is not None:
            entries = self._read_from(self._pending_cursor, count, None)
            if entries:
                self._pending_cursor = entries[-1][0]  # one pass: a failing entry waits its turn
                return entries
            self._pending_cursor = None
        claimed = self._take_over_dead(count) or self._claim_abandoned(count)
        if claimed:
            return claimed
        return self._read_from(">", count, block_ms)

    def trim(self) -> int:
        """Trim the stream of what every consumer group acked; returns how many entries went."""
        self._trimmed_at = time.monotonic()
        return trim_acked(self.client, self.stream)

    def read_burst(self, count: int, wait_s: float) -> list[Entry]:
        """Burst mode's next batch, never blocking on new entries. When nothing is left but
        entries are pending under other consumers, wait up to `wait_s` (one lease): a dead
        instance's are taken over as soon as it is known dead, a live one's are finished by it."""
        deadline = time.monotonic() + wait_s
        entries = self.read(count, None)
        while not entries and self.takeover is not None and time.monotonic() < deadline:
            if not self.takeover.others_pending(self.consumer):
                break
            time.sleep(_BURST_POLL_S)
            entries = self.read(count, None)
        return entries

    def leave(self) -> None:
        """Leave the group when nothing is pending under this consumer (a graceful stop), so
        stopped instances do not pile up in the group."""
        summary: Any = self.client.xpending(self.stream, self.group)
        mine = [c for c in summary.get("consumers") or [] if c["name"] == self.consumer]
        if not any(int(c["pending"]) for c in mine):
            self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)

    def ack(self, entry_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.hdel(self._failures_key, entry_id)
        pipe.execute()

    def fail(self, entry: Entry, error: str) -> bool:
        """Count a failed attempt; after the last, dead-letter and ack (then True)."""
        entry_id, fields = entry
        self.retry_own_soon()  # first: counting the failure may fail too (Redis is away)
        attempts = int(self.client.hincrby(self._failures_key, entry_id, 1))
        if attempts < self.max_attempts:
            return False
        record = {"stream": self.stream, "id": entry_id, "error": error, "attempts": str(attempts)}
        record["fields"] = json.dumps(fields, ensure_ascii=False)
        record["failed_at"] = str(int(time.time()))
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.dead_stream, record)  # type: ignore[arg-type]
        pipe.xack(self.stream, self.group, entry_id)
        pipe.hdel(self._failures_key, entry_id)
        pipe.execute()
        return True

    @property
    def _failures_key(self) -> str:
        return f"{self.stream}:failures"

    def read_new(self, count: int, block_ms: int | None) -> list[Entry]:
        """Only entries never delivered to the group (no pending, dead or abandoned ones)."""
        return self._read_from(">", count, block_ms)

    def _read_from(self, start: str, count: int, block_ms: int | None) -> list[Entry]:
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        return [(eid, fields) for _, batch in reply or [] for eid, fields in batch if fields]

    def retry_own_soon(self) -> None:
        """Entries of this consumer left pending by a failure: another pass over them soon."""
        if self._retry_own_at is None:
            self._retry_own_at = time.monotonic() + self.retry_own_after_s

    def rewind_pending(self) -> None:
        """Make the next read start another pass over this consumer's own pending entries."""
        self._pending_cursor = "0"

    def _take_over_dead(self, count: int) -> list[Entry]:
        return self.takeover.claim(self.consumer, count) if self.takeover is not None else []

    def _claim_abandoned(self, count: int) -> list[Entry]:
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, "0-0", count=count
        )
        return [(eid, fields) for eid, fields in reply[1] if fields]
