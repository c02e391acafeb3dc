"""The worker role's loop: read items, process them concurrently, ack each once it is done.

An item whose processing raises is left pending and counted; after the consumer's max attempts it
is dead-lettered with its error. Nothing here lets one bad item stop the others.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from worker.observability.metrics import METRICS
from worker.observability.resilience import keep_running
from worker.pipeline.process import ItemProcessor
from worker.pipeline.storylog import StoryLog
from worker.queue.streams import Entry, StreamConsumer
from worker.records import FeedItem

_BLOCK_MS = 1000


@dataclass
class WorkerLoop:
    consumer: StreamConsumer
    processor: ItemProcessor
    concurrency: int
    batch: int
    log: Any
    story_log: StoryLog | None = None  # notes the articles of stories that alerted (web API)

    def handle(self, entry: Entry) -> bool:
        """Process one entry; True when it was acked (done or dead-lettered)."""
        entry_id, fields = entry
        log = self.log.bind(entry=entry_id)
        try:
            item = FeedItem.from_json(fields["item"])
            log = log.bind(feed=item.feed_name, item=item.link or item.entry_id)
            result = self.processor.process(item)
        except Exception as exc:
            log.exception("item_failed", error=str(exc))
            dead = self.consumer.fail(entry, f"{type(exc).__name__}: {exc}")
            METRICS.inc("wirewatch_items_processed_total", outcome="failed")
            if dead:
                log.error("item_dead_lettered", error=str(exc))
                METRICS.inc("wirewatch_items_processed_total", outcome="dead_lettered")
            return dead
        self.consumer.ack(entry_id)
        METRICS.inc("wirewatch_items_processed_total", outcome=result.outcome)
        if self.story_log is not None and result.story and result.article:
            alerted = result.outcome == "alerted"
            self.story_log.note(
                result.story.story_id, result.article, result.story.articles, alerted
            )
        log.info(
            "item_processed",
            outcome=result.outcome,
            alerts=result.alerts,
            source=result.article.source if result.article else None,
            fallback=result.article.fallback_reason if result.article else None,
            story=result.story.story_id if result.story else None,
            story_articles=result.story.articles if result.story else None,
            story_updates=result.updates,
        )
        return True

    def run_batch(self, pool: ThreadPoolExecutor, entries: list[Entry]) -> int:
        return sum(pool.map(self.handle, entries))

    def run_forever(self, stop: threading.Event) -> None:
        self.consumer.ensure_group()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="item") as pool:

            def step() -> None:
                self.run_batch(pool, self.consumer.read(self.batch, _BLOCK_MS))

            keep_running(step, stop, self.log, "worker")

    def run_until_drained(self) -> int:
        """Burst mode: process what is queued now (pending entries once), then return."""
        self.consumer.ensure_group()
        self.consumer.rewind_pending()
        done = 0
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="item") as pool:
            while entries := self.consumer.read(self.batch, None):
                done += self.run_batch(pool, entries)
        return done
