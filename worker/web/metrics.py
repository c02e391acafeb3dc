"""`/metrics`: the roles' counters from Redis, plus gauges read from Redis at scrape time.

Counters and histograms are what each role process flushed into one Redis hash
(worker/observability/metrics.py); the gauges (queues, dead letters, circuits, live instances)
are the state `wirewatch status` shows, measured when Prometheus asks.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from worker.alerts.breaker import Circuit
from worker.observability.metrics import CATALOGUE, live_counts, parse_field
from worker.ops import status
from worker.web.context import WebContext

CIRCUIT_STATES = (*(c.value for c in Circuit), "disabled")


def _series(raw: dict[str, str]) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for field, value in raw.items():
        name, labels = parse_field(field)
        found.setdefault(name, []).append((labels, float(value)))
    return found


def _counter(name: str, series: list[tuple[dict[str, str], float]]) -> Metric:
    spec = CATALOGUE[name]
    family = CounterMetricFamily(name, spec.help, labels=list(spec.labels))
    for labels, value in series:
        family.add_metric([labels.get(label, "") for label in spec.labels], value)
    return family


def _histogram(name: str, found: dict[str, list[tuple[dict[str, str], float]]]) -> Metric:
    spec = CATALOGUE[name]
    family = HistogramMetricFamily(name, spec.help, labels=list(spec.labels))
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for labels, value in found.get(f"{name}_bucket", []):
        key = tuple(labels.get(label, "") for label in spec.labels)
        groups.setdefault(key, {"buckets": {}, "sum": 0.0})["buckets"][labels["le"]] = value
    for labels, value in found.get(f"{name}_sum", []):
        key = tuple(labels.get(label, "") for label in spec.labels)
        groups.setdefault(key, {"buckets": {}, "sum": 0.0})["sum"] = value
    for key, group in sorted(groups.items()):
        bounds = [*(repr(float(b)) for b in spec.buckets), "+Inf"]
        buckets = [(b, group["buckets"].get(b, 0.0)) for b in bounds]
        family.add_metric(list(key), buckets, group["sum"])
    return family


class RedisCollector(Collector):
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        raw: Any = self.ctx.client.hgetall(self.ctx.keys.metrics)
        found = _series({str(k): str(v) for k, v in raw.items()})
        for name, spec in CATALOGUE.items():
            if spec.kind == "counter":
                yield _counter(name, found.get(name, []))
            else:
                yield _histogram(name, found)
        yield from self._gauges()

    def _gauges(self) -> Iterator[Metric]:
        from worker.config.policies import delivery_policy

        ctx = self.ctx
        ids = [w.id for w in ctx.settings.webhooks]
        report = status.collect(ctx.client, ctx.keys, ids, delivery_policy(ctx.settings).breaker)
        yield from _stream_gauges(report)
        retry = GaugeMetricFamily(
            "wirewatch_retry_queue_size",
            "Deliveries waiting to be sent, by endpoint.",
            labels=["endpoint"],
        )
        circuit = GaugeMetricFamily(
            "wirewatch_endpoint_circuit",
            "1 for the state each endpoint's circuit breaker is in (disabled: 410 Gone).",
            labels=["endpoint", "state"],
        )
        for endpoint in report["endpoints"]:
            retry.add_metric([endpoint["endpoint"]], endpoint["queued"])
            for state in CIRCUIT_STATES:
                on = float(endpoint["health"] == state)
                circuit.add_metric([endpoint["endpoint"], state], on)
        yield retry
        yield circuit
        dead = GaugeMetricFamily(
            "wirewatch_dead_letters", "Dead letters kept, by stream.", labels=["stream"]
        )
        for stream, count in report["dead_letters"].items():
            dead.add_metric([stream], count)
        yield dead
        age = report["oldest_undelivered_alert_age_s"]
        yield GaugeMetricFamily(
            "wirewatch_oldest_undelivered_alert_age_seconds",
            "Age of the oldest alert not yet delivered everywhere (0 when none).",
            value=age or 0.0,
        )
        yield _live_gauge(ctx)


def _stream_gauges(report: dict[str, Any]) -> Iterator[Metric]:
    length = GaugeMetricFamily(
        "wirewatch_stream_length", "Entries in each stream.", labels=["stream"]
    )
    pending = GaugeMetricFamily(
        "wirewatch_stream_pending",
        "Entries read but not yet acked, by stream and group.",
        labels=["stream", "group"],
    )
    for stream, group in (("items", "workers"), ("alerts", "notifiers")):
        length.add_metric([stream], report[stream]["length"])
        pending.add_metric([stream, group], report[stream]["pending"])
    yield length
    yield pending


def _live_gauge(ctx: WebContext) -> Metric:
    live = live_counts(ctx.client, ctx.keys, time.time(), ctx.settings.web.live_timeout)
    family = GaugeMetricFamily(
        "wirewatch_live_instances", "Role processes with a recent heartbeat.", labels=["role"]
    )
    for role in sorted({*expected_roles(ctx), *live}):
        family.add_metric([role], live.get(role, 0))
    return family


def expected_roles(ctx: WebContext) -> list[str]:
    roles = ["scheduler", "worker", "notifier"]
    return roles + (["websub"] if ctx.settings.websub.enabled else [])


def render(ctx: WebContext) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(ctx))
    return generate_latest(registry)
