"""A histogram observation counts into its sum, its count and every bucket at or above it."""

from __future__ import annotations

from worker.observability.metrics import RoleMetrics, field_name


def test_an_observation_lands_in_sum_count_and_the_buckets_that_hold_it() -> None:
    metrics = RoleMetrics()
    metrics.observe("wirewatch_delivery_latency_seconds", 0.7, endpoint="a")
    metrics.observe("wirewatch_delivery_latency_seconds", 0.7, endpoint="a")
    metrics.observe("wirewatch_delivery_latency_seconds", 20.0, endpoint="b")
    deltas = metrics.take()
    base = "wirewatch_delivery_latency_seconds"

    def series(suffix: str, **labels: str) -> float | None:
        return deltas.get(field_name(f"{base}_{suffix}", labels))

    assert series("sum", endpoint="a") == 1.4 and series("count", endpoint="a") == 2.0
    assert series("bucket", endpoint="a", le="0.5") is None
    assert series("bucket", endpoint="a", le="1.0") == 2.0
    assert series("bucket", endpoint="a", le="+Inf") == 2.0
    assert series("bucket", endpoint="b", le="10.0") is None
    assert series("bucket", endpoint="b", le="30.0") == 1.0
    assert series("count", endpoint="b") == 1.0
