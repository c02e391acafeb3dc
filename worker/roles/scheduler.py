"""The scheduler role: poll every configured feed when it is due and queue its new entries.

Life cycle: `SchedulerRole.build(rt)` turns settings into the polling policy, the shared host
gate, the poller and the timing loop; `run(stop)` polls until stopped, following edits to the
feed list; `run_once()` polls every feed once (`wirewatch run --once`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from worker.config import Settings
from worker.feeds.model import FeedLike
from worker.fetching.politeness import HostGate
from worker.polling.health import UnhealthyAlerts, health_policy
from worker.polling.poller import FeedPoller, PollOutcome, PollPolicy, PollStatus
from worker.polling.reload import FeedList, feed_list_applier
from worker.polling.scheduler import FeedScheduler
from worker.queue.partitions import ItemShards
from worker.roles.runtime import Runtime, lease_seconds
from worker.websub.discovery import HubRecorder
from worker.websub.store import WebSubStore

ONCE_HOST_WAIT_S = 3600.0  # `run --once` waits this long at most for a busy host


def poll_policy(settings: Settings) -> PollPolicy:
    s = settings.scheduler
    return PollPolicy(
        jitter=s.jitter,
        max_backoff_s=s.max_backoff,
        seen_retention_s=s.seen_retention,
        min_interval_s=s.min_interval,
        max_interval_s=s.max_interval,
        adaptive=s.adaptive,
        health=health_policy(settings),
        max_new_items=s.max_new_items,
        max_item_bytes=s.max_item_bytes,
        partitions=settings.queue.partitions,
    )


def build_poller(rt: Runtime) -> FeedPoller:
    """The poller of this process; with WebSub on it also records the hubs feeds name."""
    policy = poll_policy(rt.settings)
    # Before the first entry goes to a new shard: workers then read it (worker/queue/partitions.py).
    ItemShards(rt.client, rt.keys, policy.partitions).record()
    alerts = None
    if policy.health.unhealthy_after_s is not None:
        alerts = UnhealthyAlerts(rt.client, rt.keys, policy.health.unhealthy_notify)
    poller = FeedPoller(rt.client, rt.keys, rt.fetcher(), policy, rt.log, time.time, alerts=alerts)
    if rt.settings.websub.enabled:
        recorder = HubRecorder(WebSubStore(rt.client, rt.keys), rt.log, time.time)
        poller.on_parsed = recorder.record
    return poller


def follow_feed_edits(rt: Runtime, role: FeedList, stop: threading.Event) -> None:
    """Reload `role`'s feeds (scheduler, websub) when the config files change or on SIGHUP."""
    rt.follow_config(
        lambda s: s, feed_list_applier(role, rt.settings, rt.log, rt.config_path), stop
    )


def poll_feeds_once(
    poller: FeedPoller, feeds: Sequence[FeedLike], gate: HostGate, concurrency: int
) -> dict[str, int]:
    """Poll every feed once, in parallel, each inside its host's limits (burst mode)."""

    def one(feed: FeedLike) -> PollOutcome:
        with gate.hold(feed.url, ONCE_HOST_WAIT_S):
            return poller.poll(feed)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(one, feeds))
    return {
        "feeds": len(outcomes),
        "new_items": sum(o.new_items for o in outcomes),
        "failed_feeds": sum(o.status == PollStatus.ERROR for o in outcomes),
    }


@dataclass
class SchedulerRole:
    rt: Runtime
    poller: FeedPoller

    @classmethod
    def build(cls, rt: Runtime) -> SchedulerRole:
        rt.heartbeat("scheduler")
        return cls(rt, build_poller(rt))

    def run(self, stop: threading.Event) -> None:
        settings = self.rt.settings
        scheduler = FeedScheduler(
            self.poller,
            settings.feeds,
            self.rt.log,
            time.time,
            gate=self.rt.host_gate(),
            concurrency=settings.scheduler.concurrency,
            lease_s=lease_seconds(settings),
        )
        follow_feed_edits(self.rt, scheduler, stop)
        scheduler.run_until(stop)

    def run_once(self) -> dict[str, int]:
        concurrency = self.rt.settings.scheduler.concurrency
        return poll_feeds_once(
            self.poller, self.rt.settings.feeds, self.rt.host_gate(), concurrency
        )
