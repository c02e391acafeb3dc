"""A role's loop outlives a failing step, pausing longer each time, up to a cap."""

from __future__ import annotations

import threading

import pytest

from worker.observability.logging import get_logger
from worker.observability.resilience import keep_running, next_pause


@pytest.mark.parametrize(
    ("previous", "expected"), [(0.0, 0.5), (0.5, 1.0), (8.0, 16.0), (20.0, 30.0), (30.0, 30.0)]
)
def test_pauses_double_up_to_a_cap(previous: float, expected: float) -> None:
    assert next_pause(previous) == expected


def test_a_step_that_raises_is_retried_until_stopped() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("redis restarting")
        stop.set()

    keep_running(step, stop, get_logger(), "test")
    assert len(calls) == 2
