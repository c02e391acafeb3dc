"""The `archiver` role: processed articles off their stream into the archive, and pruning.

It reads in its own consumer group, so the pipeline never waits for it. A batch is stored in one
transaction and acked only after the commit: an archiver killed mid-write leaves its entries
pending, and whichever archiver takes them over stores them again, which changes nothing (one
row per article id). An entry that is not an article is dead-lettered with the reason.
Pruning (articles older than `archive.retention`) runs every `archive.prune_every`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.archive.record import ArchivedArticle, BadArchiveRecord
from worker.archive.store import ArchiveStore
from worker.observability.resilience import keep_running
from worker.queue.streams import Entry, StreamConsumer

_BLOCK_MS = 1000


@dataclass
class Archiver:
    consumer: StreamConsumer
    store: ArchiveStore
    retention_s: float
    prune_every_s: float
    batch: int
    log: Any
    clock: Callable[[], float] = time.time
    after_batch: Callable[[], object] | None = None  # e.g. the spike watch's check
    _next_prune: float = field(default=0.0, init=False)

    def step(self, block_ms: int | None) -> int:
        """Store one batch (and prune when due); returns how many entries were read."""
        self.prune_when_due()
        entries = self.consumer.read(self.batch, block_ms)
        if entries:
            self.store_batch(entries)
        if self.after_batch is not None:
            self.after_batch()
        return len(entries)

    def store_batch(self, entries: list[Entry]) -> None:
        records: list[ArchivedArticle] = []
        stored: list[str] = []
        for entry in entries:
            try:
                records.append(ArchivedArticle.from_json(entry[1]["article"]))
            except (BadArchiveRecord, KeyError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                self.log.error("archive_entry_bad", entry=entry[0], error=reason)
                self.consumer.fail(entry, reason)
            else:
                stored.append(entry[0])
        try:
            added = self.store.add(records)
        except Exception:
            self.consumer.rewind_pending()  # the next read retries these entries first
            raise
        self._ack(stored)
        self.log.info("archived", entries=len(stored), new=added)

    def _ack(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        pipe = self.consumer.client.pipeline(transaction=True)
        pipe.xack(self.consumer.stream, self.consumer.group, *entry_ids)
        pipe.hdel(f"{self.consumer.stream}:failures", *entry_ids)
        pipe.execute()

    def prune_when_due(self) -> int:
        now = self.clock()
        if now < self._next_prune:
            return 0
        self._next_prune = now + self.prune_every_s
        removed = self.store.prune(now - self.retention_s)
        if removed:
            self.log.info("archive_pruned", removed=removed, retention_s=self.retention_s)
        return removed

    def run_until(self, stop: threading.Event) -> None:
        self.consumer.ensure_group()
        keep_running(lambda: self.step(_BLOCK_MS), stop, self.log, "archiver")

    def run_until_drained(self) -> int:
        """Burst mode: store what is queued now (own pending entries first), then return."""
        self.consumer.ensure_group()
        self.consumer.rewind_pending()
        done = 0
        while read := self.step(None):
            done += read
        return done
