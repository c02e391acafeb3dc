"""The circuit breaker's transitions as a table, at its real threshold (elsewhere it is only
exercised with the threshold raised out of the way)."""

from __future__ import annotations

import pytest

from worker.alerts.breaker import Breaker, BreakerPolicy, Circuit

POLICY = BreakerPolicy(threshold=3, cooldown_s=30.0, max_cooldown_s=100.0)


def run(events: str, start: float = 0.0) -> tuple[Breaker, float]:
    """Apply events one second apart: f = a failure, s = a success."""
    breaker, now = Breaker(), start
    for event in events:
        now += 1.0
        breaker = breaker.after_failure(now, POLICY) if event == "f" else breaker.after_success()
    return breaker, now


@pytest.mark.parametrize(
    ("events", "wait_s", "circuit", "cooldown_s"),
    [
        ("", 0.0, Circuit.CLOSED, 0.0),
        ("ff", 0.0, Circuit.CLOSED, 0.0),  # below the threshold
        ("ffsff", 0.0, Circuit.CLOSED, 0.0),  # a success resets the count
        ("fff", 0.0, Circuit.OPEN, 30.0),  # the threshold opens it
        ("fff", 29.0, Circuit.OPEN, 30.0),  # still cooling down
        ("fff", 30.0, Circuit.HALF_OPEN, 30.0),  # cooldown over: one probe
        ("ffff", 0.0, Circuit.OPEN, 60.0),  # a failed probe doubles the cooldown
        ("fffff", 0.0, Circuit.OPEN, 100.0),  # 120 s capped at the maximum
        ("ffffff", 0.0, Circuit.OPEN, 100.0),  # and stays there
        ("fffffs", 0.0, Circuit.CLOSED, 0.0),  # a successful probe closes it
        ("fffffsff", 0.0, Circuit.CLOSED, 0.0),  # and the count starts again
        ("fffffsfff", 0.0, Circuit.OPEN, 30.0),  # from the first cooldown
    ],
)
def test_breaker_transitions(
    events: str, wait_s: float, circuit: Circuit, cooldown_s: float
) -> None:
    breaker, now = run(events)
    assert breaker.circuit(now + wait_s, POLICY) is circuit
    assert breaker.cooldown_s == cooldown_s
