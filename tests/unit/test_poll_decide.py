"""The poll decisions as tables: state, what a fetch brought, the time and the draw in; the
fields to write and the delay out. No server, no Redis, no clock."""

from __future__ import annotations

import pytest

from worker.polling.decide import after_error, after_success
from worker.polling.intervals import IntervalBounds

NOW = 1_800_000_000.0
BOUNDS = IntervalBounds(configured_s=900.0, min_s=300.0, max_s=14_400.0, max_backoff_s=21_600.0,
                        jitter=0.0, adaptive=True)  # fmt: skip
MIDDLE = 0.5  # the random draw that adds no jitter


def test_a_success_resets_the_failure_streak_and_keeps_what_the_body_told() -> None:
    failing = {"status": "error", "consecutive_errors": "4", "failing_since": str(NOW - 3600)}
    updates = {"etag": '"v2"', "rhythm_s": "1200"}

    decided = after_success(failing, updates, {}, BOUNDS, NOW, MIDDLE)

    assert decided.fields == {
        "etag": '"v2"',
        "rhythm_s": "1200",
        "status": "ok",
        "last_success": str(NOW),
        "consecutive_errors": "0",
        "failing_since": "",
        "next_poll": str(NOW + decided.delay_s),
    }
    assert decided.delay_s == 600.0  # half the publishing rhythm, within the bounds


@pytest.mark.parametrize(
    ("state", "updates", "headers", "delay"),
    [
        ({}, {}, {}, 900.0),  # no rhythm known yet: the configured interval
        ({"rhythm_s": "100"}, {}, {}, 300.0),  # a fast feed: never under the lower bound
        ({"rhythm_s": "86400"}, {}, {}, 14_400.0),  # a slow one: never over the upper bound
        ({}, {}, {"cache-control": "max-age=3600"}, 3600.0),  # a hint only lengthens it
        ({}, {"feed_hint_s": "7200"}, {}, 7200.0),  # the feed's own ttl, from this body
        ({"feed_hint_s": "7200"}, {"feed_hint_s": ""}, {}, 900.0),  # a hint the body dropped
    ],
)
def test_the_next_poll_after_a_success(
    state: dict[str, str], updates: dict[str, str], headers: dict[str, str], delay: float
) -> None:
    assert after_success(state, updates, headers, BOUNDS, NOW, MIDDLE).delay_s == delay


@pytest.mark.parametrize(
    ("errors_before", "retry_after", "delay"),
    [
        (0, None, 900.0),  # one transient error costs no more than the normal interval
        (1, None, 1800.0),  # then it doubles
        (3, None, 7200.0),
        (20, None, 21_600.0),  # up to the backoff cap, and never disables the feed
        (0, 5000.0, 5000.0),  # a 429/503's Retry-After is honoured
    ],
)
def test_the_next_poll_after_an_error(
    errors_before: int, retry_after: float | None, delay: float
) -> None:
    state = {"consecutive_errors": str(errors_before), "failing_since": str(NOW - 60)}
    decided = after_error(state, "http_status: HTTP 503", retry_after, BOUNDS, NOW, MIDDLE)
    assert decided.delay_s == delay
    assert decided.fields["consecutive_errors"] == str(errors_before + 1)
    assert decided.fields["next_poll"] == str(NOW + delay)


def test_an_error_keeps_when_the_streak_began() -> None:
    first = after_error({}, "timeout: slow", None, BOUNDS, NOW, MIDDLE)
    later = after_error(first.fields, "timeout: slow", None, BOUNDS, NOW + 900, MIDDLE)
    assert first.fields["failing_since"] == later.fields["failing_since"] == str(NOW)
    assert later.fields["last_error_at"] == str(NOW + 900)
    assert later.fields["status"] == "error" and later.fields["last_error"] == "timeout: slow"
