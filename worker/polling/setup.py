"""Settings -> the polling objects: policy, host gate, poller, scheduler, and a burst poll.

Kept here so worker/service.py stays a thin switchboard.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from worker.config import Settings
from worker.fetching import Fetcher
from worker.polling.health import HealthPolicy, UnhealthyAlerts
from worker.polling.politeness import HostGate, HostLimit
from worker.polling.poller import FeedLike, FeedPoller, PollOutcome, PollPolicy
from worker.polling.scheduler import FeedScheduler
from worker.queue.connection import Client
from worker.queue.keys import Keys

LEASE_MARGIN_S = 60.0  # a poll holds its feed for the fetch deadline plus parsing and queueing
ONCE_HOST_WAIT_S = 3600.0  # `run --once` waits this long at most for a busy host


def health_policy(settings: Settings) -> HealthPolicy:
    s = settings.scheduler
    return HealthPolicy(
        stale_factor=s.stale_factor,
        stale_minimum_s=s.stale_minimum,
        unhealthy_after_s=s.unhealthy_after,
        unhealthy_notify=tuple(s.unhealthy_notify),
    )


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
    )


def lease_seconds(settings: Settings) -> float:
    return settings.fetch.timeout + LEASE_MARGIN_S


def host_gate(settings: Settings, client: Client, keys: Keys) -> HostGate:
    """The politeness gate; the article fetcher can share it (`gate.hold(url, max_wait_s)`)."""
    s = settings.scheduler
    overrides = {host: HostLimit(h.max_concurrent, h.min_spacing) for host, h in s.hosts.items()}
    return HostGate(
        client,
        keys,
        default=HostLimit(s.host_max_concurrent, s.host_min_spacing),
        overrides=overrides,
        lease_s=lease_seconds(settings),
    )


def build_poller(
    settings: Settings, client: Client, keys: Keys, fetcher: Fetcher, log: Any
) -> FeedPoller:
    policy = poll_policy(settings)
    alerts = None
    if policy.health.unhealthy_after_s is not None:
        alerts = UnhealthyAlerts(client, keys, policy.health.unhealthy_notify)
    return FeedPoller(client, keys, fetcher, policy, log, time.time, alerts=alerts)


def build_scheduler(settings: Settings, poller: FeedPoller, log: Any) -> FeedScheduler:
    return FeedScheduler(
        poller,
        settings.feeds,
        log,
        time.time,
        gate=host_gate(settings, poller.client, poller.keys),
        concurrency=settings.scheduler.concurrency,
        lease_s=lease_seconds(settings),
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
        "failed_feeds": sum(o.status == "error" for o in outcomes),
    }
