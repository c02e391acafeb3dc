"""Wiring: settings -> Redis client, fetcher, matcher -> the three roles, long-running or burst.

Each role builds only what it needs. `run_once` chains the roles in this process (poll, process,
deliver) for `wirewatch run --once`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.alerts.breaker import BreakerPolicy
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.config import Settings, load_config
from worker.dedupe.exact import ExactDedupe
from worker.dedupe.stories import StoryIndex
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.observability.resilience import keep_running, wait_for_stop
from worker.pipeline.article import PoliteFetcher
from worker.pipeline.emit import AlertEmitter
from worker.pipeline.process import ItemProcessor
from worker.pipeline.runner import WorkerLoop
from worker.pipeline.storylog import StoryLog
from worker.pipeline.watchlists import ConfigWatcher, SharedWatchlists
from worker.polling.poller import FeedPoller
from worker.polling.reload import FeedConfigWatcher, FeedList
from worker.polling.setup import build_poller, build_scheduler, host_gate, poll_feeds_once
from worker.queue.connection import Client, open_client
from worker.queue.keys import ALERTS_GROUP, ITEMS_GROUP, Keys
from worker.queue.streams import StreamConsumer

# An article whose site stays busy this long is taken from the feed's own text instead.
ARTICLE_HOST_WAIT_S = 120.0
# Within `run --once`, retries due this soon are waited for; later ones stay for the next run.
ONCE_RETRY_HORIZON_S = 30.0
_DISPATCH_IDLE_S = 0.2  # how often due retries and digests are looked for when all is quiet
_INTAKE_BLOCK_MS = 500


def consumer_name(role: str) -> str:
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


def fetch_limits(settings: Settings) -> FetchLimits:
    f = settings.fetch
    return FetchLimits(
        timeout_s=f.timeout,
        connect_timeout_s=f.connect_timeout,
        max_bytes=f.max_bytes,
        max_redirects=f.max_redirects,
        allow_private_addresses=f.allow_private_addresses,
        user_agent=f.user_agent,
    )


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    return {
        w.id: Endpoint(
            w.id,
            w.url,
            w.secret.get_secret_value() if w.secret else None,
            w.format,
            w.digest,
        )
        for w in settings.webhooks
    }


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    d = settings.delivery
    breaker = BreakerPolicy(d.breaker_threshold, d.breaker_cooldown, d.breaker_max_cooldown)
    return DeliveryPolicy(tuple(d.retry_schedule), d.timeout, d.jitter, d.concurrency, breaker)


@dataclass
class Runtime:
    """What every role shares: settings, a Redis client, the key names and a logger."""

    settings: Settings
    client: Client
    keys: Keys
    log: Any
    config_path: Path | None = None
    redis_url: str = ""
    config_signature: tuple[tuple[str, int, int], ...] = ()
    reload_requested: threading.Event = field(default_factory=threading.Event)
    _shared: SharedWatchlists | None = None
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings, redis_url: str) -> Runtime:
        client = open_client(redis_url)
        return cls(settings, client, Keys(settings.redis_prefix), get_logger(), redis_url=redis_url)

    def config_watcher(self) -> ConfigWatcher | None:
        """Watches the config files (and SIGHUP) to reload watchlists; None without a path."""
        if self.config_path is None:
            return None
        path = self.config_path

        def load() -> list[Any]:
            return list(load_config(path, os.environ).watchlists)

        shared = self.shared_watchlists()
        watcher = ConfigWatcher(path, load, shared, self.log, self.config_signature)
        watcher.requested = self.reload_requested
        return watcher

    def follow_feed_edits(self, role: FeedList, stop: threading.Event) -> None:
        """Reload `role`'s feeds (scheduler, websub) when the config files change or on SIGHUP,
        in a thread; nothing without a config path."""
        if self.config_path is None:
            return
        path = self.config_path
        watcher = FeedConfigWatcher(
            path,
            lambda: load_config(path, os.environ),
            role,
            self.settings,
            self.log,
            self.config_signature,
            requested=self.reload_requested,
        )
        threading.Thread(target=watcher.run, args=(stop,), name="feed-watch", daemon=True).start()

    def fetcher(self) -> Fetcher:
        fetcher = Fetcher(fetch_limits(self.settings))
        self._closers.append(fetcher)
        return fetcher

    def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self.client.close()

    # -- roles -------------------------------------------------------------------------------
    def poller(self) -> FeedPoller:
        poller = build_poller(self.settings, self.client, self.keys, self.fetcher(), self.log)
        if self.settings.websub.enabled:  # record the hubs feeds name, for the websub role
            from worker.websub.setup import hub_recorder

            poller.on_parsed = hub_recorder(self.client, self.keys, self.log).record
        return poller

    def shared_watchlists(self) -> SharedWatchlists:
        """One per process: the worker's processor and its config watcher share what it holds."""
        if self._shared is None:
            self._shared = SharedWatchlists(self.client, self.keys, self.log)
        return self._shared

    def worker_loop(self) -> WorkerLoop:
        """A worker on the watchlists of this process's config (published for all workers)."""
        s = self.settings
        shared = self.shared_watchlists()
        shared.publish(s.watchlists)
        window = s.dedupe.window
        processor = ItemProcessor(
            pages=PoliteFetcher(
                self.fetcher(), host_gate(s, self.client, self.keys), ARTICLE_HOST_WAIT_S
            ),
            dedupe=ExactDedupe(self.client, self.keys, window),
            stories=StoryIndex(self.client, self.keys, s.dedupe),
            emitter=AlertEmitter(self.client, self.keys, window),
            rules=shared.current,
            story_updated_after=s.dedupe.story_updated_after,
        )
        consumer = self._consumer(
            "worker", self.keys.items_stream, ITEMS_GROUP, self.keys.items_dead
        )
        loop = WorkerLoop(consumer, processor, s.worker.concurrency, s.worker.batch, self.log)
        loop.story_log = StoryLog(self.client, self.keys)
        return loop

    def notifier(self) -> Notifier:
        policy = delivery_policy(self.settings)
        notifier = Notifier(self.client, self.keys, endpoints(self.settings), policy, self.log)
        self._closers.append(notifier)
        return notifier

    def alerts_consumer(self) -> StreamConsumer:
        keys = self.keys
        return self._consumer("notifier", keys.alerts_stream, ALERTS_GROUP, keys.deliveries_dead)

    def _consumer(self, role: str, stream: str, group: str, dead: str) -> StreamConsumer:
        w = self.settings.worker
        consumer = StreamConsumer(
            self.client,
            stream,
            group,
            consumer_name(role),
            dead,
            max_attempts=w.max_attempts,
            claim_idle_ms=int(w.claim_idle * 1000),
        )
        consumer.ensure_group()
        return consumer


# -- long-running roles ----------------------------------------------------------------------
def run_scheduler(rt: Runtime, stop: threading.Event) -> None:
    scheduler = build_scheduler(rt.settings, rt.poller(), rt.log)
    rt.follow_feed_edits(scheduler, stop)
    scheduler.run_until(stop)


def run_websub(rt: Runtime, stop: threading.Event) -> None:
    """Subscribe at hubs and take their pushes; idle when disabled, so a Procfile that lists
    this process type keeps running (Procfile runners stop everything when one process ends)."""
    if not rt.settings.websub.enabled:
        rt.log.info("websub_disabled", hint="set websub.enabled and websub.public_url")
        wait_for_stop(stop)
        return
    from worker.websub.setup import WebSubRole

    role = WebSubRole(rt.settings, rt.poller(), rt.log)
    rt.follow_feed_edits(role, stop)
    role.run_until(stop)


def run_worker(rt: Runtime, stop: threading.Event) -> None:
    loop = rt.worker_loop()
    watcher = rt.config_watcher()
    if watcher is not None:
        threading.Thread(target=watcher.run, args=(stop,), name="config-watch", daemon=True).start()
    rt.log.info("worker_started", watchlists=len(rt.settings.watchlists))
    loop.run_forever(stop)
    rt.log.info("worker_stopped")


def run_notifier(rt: Runtime, stop: threading.Event) -> None:
    """Intake (alerts off the stream) and dispatch (due deliveries out) run side by side, so a
    burst of alerts never waits for a sending loop, nor sending for the stream."""
    notifier, consumer = rt.notifier(), rt.alerts_consumer()
    intake = threading.Thread(
        target=take_alerts_until, args=(notifier, consumer, stop), name="alert-intake", daemon=True
    )
    intake.start()
    rt.log.info("notifier_started", endpoints=len(rt.settings.webhooks))

    def dispatch_step() -> None:
        notifier.flush_digests()
        notifier.dispatch()
        notifier.wait_for_work(_DISPATCH_IDLE_S)

    keep_running(dispatch_step, stop, rt.log, "dispatch")
    intake.join()
    notifier.wait_idle(rt.settings.delivery.timeout + 5)  # let requests in flight finish
    rt.log.info("notifier_stopped")


def take_alerts_until(notifier: Notifier, consumer: StreamConsumer, stop: threading.Event) -> None:
    def step() -> None:
        if take_alerts(notifier, consumer, block_ms=_INTAKE_BLOCK_MS):
            notifier.wake()

    keep_running(step, stop, notifier.log, "alert-intake")


def take_alerts(notifier: Notifier, consumer: StreamConsumer, block_ms: int | None) -> int:
    entries = consumer.read(64, block_ms)
    for entry, exc in notifier.take_batch(entries, consumer.group):
        # A malformed alert must not stop the ones behind it: counted, then dead-lettered.
        notifier.log.error(
            "alert_intake_failed", entry=entry[0], error=f"{type(exc).__name__}: {exc}"
        )
        consumer.fail(entry, f"{type(exc).__name__}: {exc}")
    return len(entries)


# -- burst mode ------------------------------------------------------------------------------
def poll_all(rt: Runtime) -> Mapping[str, int]:
    gate = host_gate(rt.settings, rt.client, rt.keys)
    concurrency = rt.settings.scheduler.concurrency
    return poll_feeds_once(rt.poller(), rt.settings.feeds, gate, concurrency)


def deliver_until_settled(notifier: Notifier, consumer: StreamConsumer) -> None:
    """Deliver everything due, waiting for retries due within the horizon; later ones persist."""
    consumer.rewind_pending()
    while take_alerts(notifier, consumer, block_ms=None):
        pass
    notifier.flush_digests(force=True)  # the run ends now: do not hold digests back
    while True:
        notifier.dispatch()
        notifier.wait_idle()
        due = notifier.next_due_at()
        if due is None or due - time.time() > ONCE_RETRY_HORIZON_S:
            return
        time.sleep(max(0.0, min(due - time.time(), ONCE_RETRY_HORIZON_S)))


def run_once(rt: Runtime) -> dict[str, int]:
    summary = dict(poll_all(rt))
    summary["items_processed"] = rt.worker_loop().run_until_drained()
    notifier = rt.notifier()
    deliver_until_settled(notifier, rt.alerts_consumer())
    summary["deliveries_pending"] = int(rt.client.hlen(rt.keys.deliveries))
    summary["deliveries_dead"] = int(rt.client.xlen(rt.keys.deliveries_dead))
    return summary
