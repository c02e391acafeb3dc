"""Role metrics that meet in Redis, and live instances per role.

Every role process counts in memory (a lock and a dict add: nothing on the hot path talks to
Redis) and a background thread adds what it counted since the last flush to one Redis hash every
second (HINCRBYFLOAT in one pipeline). The web role renders that hash
at `/metrics`, so one scrape covers every role on every machine, and a role process needs no
port of its own (docs/metrics.md says why this was chosen over a listener per process).
Counters are sums over all processes and never reset: a process that stops leaves its counts
in, as Prometheus expects of a `_total`. A process killed outright loses at most the last second.

Live instances are read from the heartbeat leases (worker/queue/liveness.py), the same ones
that decide when a dead instance's work is taken over, so `/readyz` and a takeover agree.

Histograms are kept as cumulative `_bucket{le=…}` counters plus `_sum` and `_count`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.liveness import Registry

FLUSH_EVERY_S = 1.0
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0, 36000.0)


@dataclass(frozen=True)
class MetricSpec:
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = DURATION_BUCKETS


# What the roles count. The web role adds gauges read from Redis at scrape time (web/metrics.py).
CATALOGUE: dict[str, MetricSpec] = {
    "wirewatch_polls_total": MetricSpec(
        "counter", "Feed polls by outcome (new_items, unchanged, error).", ("outcome",)
    ),
    "wirewatch_poll_duration_seconds": MetricSpec("histogram", "Time to poll one feed."),
    "wirewatch_fetch_duration_seconds": MetricSpec(
        "histogram", "Time to fetch one article page (a fallback to the feed's text included)."
    ),
    "wirewatch_items_processed_total": MetricSpec(
        "counter",
        "Items processed by workers, by outcome (alerted, no_match, duplicate_url,"
        " duplicate_text, failed, dead_lettered).",
        ("outcome",),
    ),
    "wirewatch_extraction_duration_seconds": MetricSpec(
        "histogram", "Time to extract one article page's text."
    ),
    "wirewatch_matching_duration_seconds": MetricSpec(
        "histogram", "Time to match one article against every watchlist."
    ),
    "wirewatch_alerts_total": MetricSpec(
        "counter",
        "Alerts created, by watchlist (counted as the web role indexes them).",
        ("watchlist",),
    ),
    "wirewatch_deliveries_total": MetricSpec(
        "counter",
        "Delivery attempts by endpoint and result (delivered, failed, gone, dead_lettered).",
        ("endpoint", "result"),
    ),
    "wirewatch_delivery_latency_seconds": MetricSpec(
        "histogram",
        "From an alert's delivery being queued to its successful delivery, by endpoint.",
        ("endpoint",),
        LATENCY_BUCKETS,
    ),
}


def field_name(name: str, labels: Mapping[str, str]) -> str:
    """The Redis hash field of one series: the name, a tab, the labels as sorted JSON."""
    return f"{name}\t{json.dumps(sorted(labels.items()), separators=(',', ':'))}"


def parse_field(field: str) -> tuple[str, dict[str, str]]:
    name, _, labels = field.partition("\t")
    return name, dict(json.loads(labels or "[]"))


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class RoleMetrics:
    """This process's counts since the last flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deltas: dict[str, float] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._add(field_name(name, labels), amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        spec = CATALOGUE[name]
        base = name.removesuffix("_seconds") + "_seconds"
        updates = [(field_name(f"{base}_sum", labels), seconds)]
        updates.append((field_name(f"{base}_count", labels), 1.0))
        for bound in (*spec.buckets, float("inf")):
            if seconds <= bound:
                updates.append((field_name(f"{base}_bucket", {**labels, "le": _le(bound)}), 1.0))
        with self._lock:
            for key, amount in updates:
                self._deltas[key] = self._deltas.get(key, 0.0) + amount

    @contextmanager
    def timed(self, name: str, **labels: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(name, time.perf_counter() - started, **labels)

    def _add(self, key: str, amount: float) -> None:
        with self._lock:
            self._deltas[key] = self._deltas.get(key, 0.0) + amount

    def take(self) -> dict[str, float]:
        with self._lock:
            taken, self._deltas = self._deltas, {}
        return taken

    def put_back(self, deltas: Mapping[str, float]) -> None:
        """A flush that failed (Redis away): keep the counts for the next one."""
        with self._lock:
            for key, amount in deltas.items():
                self._deltas[key] = self._deltas.get(key, 0.0) + amount

    def flush(self, client: Client, keys: Keys) -> None:
        deltas = self.take()
        if not deltas:
            return
        pipe = client.pipeline(transaction=False)
        for key, amount in deltas.items():
            pipe.hincrbyfloat(keys.metrics, key, amount)
        try:
            pipe.execute()
        except Exception:
            self.put_back(deltas)
            raise


METRICS = RoleMetrics()  # one per process: every module counts into it


LIVE_ROLES = ("scheduler", "worker", "notifier", "websub", "archiver")


def live_counts(client: Client, keys: Keys, now: float, timeout_s: float) -> dict[str, int]:
    """Role -> live instances, from the heartbeat leases that also decide takeovers (one notion
    of alive): a lease still running, a process not gone from this machine, and a beat within
    `timeout_s` (`web.live_timeout`, which may ask for fresher beats than the lease does)."""
    counts: dict[str, int] = {}
    for role in LIVE_ROLES:
        states = Registry(client, keys, role, lease_s=0.0).states()
        live = sum(1 for s in states if s.alive(now) and now - s.beat_at <= timeout_s)
        if live:
            counts[role] = live
    return counts


def run_reporter(client: Client, keys: Keys, stop: threading.Event, log: Any) -> None:
    """Flush this process's counts every second until `stop`; once more at the end."""
    while True:
        stopping = stop.wait(FLUSH_EVERY_S)
        try:
            METRICS.flush(client, keys)
        except Exception as exc:  # Redis away: counts are kept and flushed next second
            log.warning("metrics_flush_failed", error=f"{type(exc).__name__}: {exc}")
        if stopping:
            return


def start_reporter(client: Client, keys: Keys, log: Any) -> Any:
    """Start the reporter thread; returns a function that stops it (flushing first)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_reporter,
        args=(client, keys, stop, log),
        daemon=True,
        name="metrics",
    )
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(timeout=5)

    return finish
