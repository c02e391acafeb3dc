"""The worker role: read queued items, fetch, extract, dedupe and match them, emit alerts.

Life cycle: `WorkerRole.build(rt)` publishes this config's watchlists (for every worker) and
wires the item processor (worker/pipeline/) to the items stream; `run(stop)` processes items
until stopped, following edits to the watchlists; `run_once()` processes what is queued now.

Each item is acked once it is done. An item whose processing raises is left pending and
counted; after the consumer's max attempts it is dead-lettered with its error. Nothing here lets
one bad item stop the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from worker.dedupe.exact import ExactDedupe
from worker.dedupe.stories import StoryIndex
from worker.observability.metrics import METRICS
from worker.observability.resilience import keep_running
from worker.pipeline.article import PoliteFetcher
from worker.pipeline.emit import AlertEmitter
from worker.pipeline.process import ItemOutcome, ItemProcessor, ProcessResult
from worker.pipeline.refusals import RefusedHosts
from worker.pipeline.storylog import StoryLog
from worker.pipeline.watchlists import SharedWatchlists, publisher
from worker.queue.partitions import ShardedConsumer
from worker.queue.streams import Entry, StreamConsumer
from worker.records import FeedItem
from worker.roles.archiver import archive_sink
from worker.roles.runtime import Runtime

# An article whose site stays busy this long is taken from the feed's own text instead.
ARTICLE_HOST_WAIT_S = 120.0
_BLOCK_MS = 1000


@dataclass
class WorkerLoop:
    consumer: StreamConsumer | ShardedConsumer  # sharded: `queue.partitions` (partitions.py)
    processor: ItemProcessor
    concurrency: int
    batch: int
    log: Any
    # Hands each processed article on (to the archive stream) before its item is acked.
    archive: Callable[[FeedItem, ProcessResult], None] | None = None
    story_log: StoryLog | None = None  # notes the articles of stories that alerted (web API)

    def handle(self, entry: Entry) -> bool:
        """Process one entry; True when it was acked (done or dead-lettered)."""
        entry_id, fields = entry
        log = self.log.bind(entry=entry_id)
        try:
            item = FeedItem.from_json(fields["item"])
            log = log.bind(feed=item.feed_name, item=item.link or item.entry_id)
            result = self.processor.process(item)
            if self.archive is not None:
                self.archive(item, result)
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
            alerted = result.outcome == ItemOutcome.ALERTED
            self.story_log.note(
                result.story.story_id, result.article, result.story.articles, alerted
            )
        log.info(
            "item_processed",
            outcome=result.outcome,
            alerts=result.alerts,
            watchlists=list(result.matched),
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
                try:
                    self.run_batch(pool, self.consumer.read(self.batch, _BLOCK_MS))
                except Exception:
                    self.consumer.retry_own_soon()  # what this batch left pending, again soon
                    raise

            keep_running(step, stop, self.log, "worker")

    def run_until_drained(self, wait_for_others_s: float = 0.0) -> int:
        """Burst mode: process what is queued now (pending entries once, and those of dead
        instances, waiting up to `wait_for_others_s` to learn whether a holder is dead)."""
        self.consumer.ensure_group()
        self.consumer.rewind_pending()
        done = 0
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="item") as pool:
            while entries := self.consumer.read_burst(self.batch, wait_for_others_s):
                done += self.run_batch(pool, entries)
        return done


def build_processor(rt: Runtime, shared: SharedWatchlists) -> ItemProcessor:
    s = rt.settings
    window = s.dedupe.window
    return ItemProcessor(
        pages=PoliteFetcher(
            rt.fetcher(), rt.host_gate(), ARTICLE_HOST_WAIT_S, RefusedHosts(rt.log)
        ),
        dedupe=ExactDedupe(rt.client, rt.keys, window),
        stories=StoryIndex(rt.client, rt.keys, s.dedupe),
        emitter=AlertEmitter(rt.client, rt.keys, window),
        rules=shared.current,
        story_updated_after=s.dedupe.story_updated_after,
    )


@dataclass
class WorkerRole:
    rt: Runtime
    shared: SharedWatchlists
    loop: WorkerLoop

    @classmethod
    def build(cls, rt: Runtime) -> WorkerRole:
        """A worker on the watchlists of this process's config (published for all workers)."""
        shared = SharedWatchlists(rt.client, rt.keys, rt.log)
        shared.publish(rt.settings.watchlists)
        consumer = rt.item_consumer()
        w = rt.settings.worker
        loop = WorkerLoop(consumer, build_processor(rt, shared), w.concurrency, w.batch, rt.log)
        sink = archive_sink(rt)
        loop.archive = sink.put if sink is not None else None
        loop.story_log = StoryLog(rt.client, rt.keys)
        return cls(rt, shared, loop)

    def run(self, stop: threading.Event) -> None:
        rt = self.rt
        if rt.config_path is not None:
            apply = publisher(self.shared, rt.log, rt.config_path)
            # Each pass also picks up sets published elsewhere while no item arrives.
            rt.follow_config(lambda s: s.watchlists, apply, stop, every_pass=self.shared.current)
        rt.log.info("worker_started", watchlists=len(rt.settings.watchlists))
        self.loop.run_forever(stop)
        rt.log.info("worker_stopped")

    def run_once(self) -> int:
        # One lease and a beat: long enough for any other instance's lease to run out.
        return self.loop.run_until_drained(self.rt.settings.worker.instance_lease + 1.0)
