"""Table tests for the pure interval math: rhythm, hints, Retry-After, jitter, staleness."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.feeds.parse import sy_update_seconds
from worker.polling.intervals import (
    IntervalBounds,
    base_interval,
    error_delay,
    expires_seconds,
    hint_seconds,
    is_stale,
    max_age_seconds,
    publishing_rhythm,
    success_delay,
)

NOW = 1_800_000_000.0
HOUR = 3600.0
BOUNDS = IntervalBounds(
    configured_s=900, min_s=300, max_s=4 * HOUR, max_backoff_s=6 * HOUR, jitter=0.0
)


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], None),
        ([NOW], None),
        ([NOW, NOW], None),
        ([NOW, NOW - 600, NOW - 1200], 600.0),
        ([NOW, NOW - 60, NOW - 7200, NOW - 7260], 60.0),  # median of 60, 7140, 60
        ([NOW - i * HOUR for i in range(50)], HOUR),
    ],
)
def test_publishing_rhythm(published: list[float], expected: float | None) -> None:
    assert publishing_rhythm(published) == expected


@pytest.mark.parametrize(
    ("rhythm", "bounds", "expected"),
    [
        (None, BOUNDS, 900.0),  # unknown rhythm: the configured interval
        (2 * HOUR, BOUNDS, HOUR),  # half the usual gap
        (60.0, BOUNDS, 300.0),  # a busy feed: the lower bound
        (30 * 86400.0, BOUNDS, 4 * HOUR),  # a quiet feed: the upper bound
        (2 * HOUR, IntervalBounds(900, 300, 4 * HOUR, 6 * HOUR, 0.0, adaptive=False), 900.0),
        (60.0, IntervalBounds(60, 300, 4 * HOUR, 6 * HOUR, 0.0), 60.0),  # user asked for 60 s
        (30 * 86400.0, IntervalBounds(86400, 300, 4 * HOUR, 6 * HOUR, 0.0), 86400.0),
    ],
)
def test_base_interval_follows_rhythm_within_bounds(
    rhythm: float | None, bounds: IntervalBounds, expected: float
) -> None:
    assert base_interval(rhythm, bounds) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("max-age=600", 600.0),
        ("public, max-age=3600, must-revalidate", 3600.0),
        ('s-maxage="120"', 120.0),
        ("no-cache, max-age=600", None),
        ("no-store", None),
        ("private", None),
    ],
)
def test_max_age(header: str | None, expected: float | None) -> None:
    assert max_age_seconds(header) == expected


@pytest.mark.parametrize(
    ("offset_s", "expected"),
    [(3600.0, 3600.0), (-3600.0, None), (0.0, None)],
)
def test_expires(offset_s: float, expected: float | None) -> None:
    header = formatdate(NOW + offset_s, usegmt=True)
    assert expires_seconds(header, NOW) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("header", [None, "", "garbage", "0"])
def test_unreadable_expires_is_no_hint(header: str | None) -> None:
    assert expires_seconds(header, NOW) is None


@pytest.mark.parametrize(
    ("period", "frequency", "expected"),
    [
        (None, None, None),
        ("hourly", "2", 1800.0),
        ("daily", None, 86400.0),
        (None, "4", 21600.0),  # period defaults to daily
        ("WEEKLY", "1", 7 * 86400.0),
        ("fortnightly", "1", None),
        ("hourly", "0", None),
        ("hourly", "x", 3600.0),
    ],
)
def test_sy_update(period: str | None, frequency: str | None, expected: float | None) -> None:
    assert sy_update_seconds(period, frequency) == expected


@pytest.mark.parametrize(
    ("headers", "feed_hints", "expected"),
    [
        ({}, [], 0.0),
        ({}, [None, 1800.0], 1800.0),
        ({"cache-control": "max-age=600"}, [1800.0], 1800.0),
        ({"cache-control": "max-age=7200"}, [1800.0], 7200.0),
        ({"cache-control": "no-cache"}, [], 0.0),
        # Cache-Control wins over Expires (RFC 9111), even when it says nothing about age.
        ({"cache-control": "public", "expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, [], 0.0),
    ],
)
def test_hint_seconds(
    headers: dict[str, str], feed_hints: list[float | None], expected: float
) -> None:
    assert hint_seconds(headers, feed_hints, NOW) == expected


@pytest.mark.parametrize(
    ("rhythm", "hint", "rand", "expected"),
    [
        (None, 0.0, 0.5, 900.0),  # rand 0.5 = no jitter either way
        (2 * HOUR, 0.0, 0.5, HOUR),
        (None, 1800.0, 0.5, 1800.0),  # ttl 30 min: never sooner
        (None, 60.0, 0.5, 900.0),  # a short hint never shortens the interval
        (None, 30 * 86400.0, 0.5, 4 * HOUR),  # a huge hint stops at the upper bound
    ],
)
def test_success_delay(rhythm: float | None, hint: float, rand: float, expected: float) -> None:
    assert success_delay(rhythm, hint, BOUNDS, rand) == pytest.approx(expected)


def test_jitter_spreads_but_never_before_a_hint() -> None:
    jittery = IntervalBounds(900, 300, 4 * HOUR, 6 * HOUR, jitter=0.2)
    assert success_delay(None, 0.0, jittery, 0.0) == pytest.approx(720.0)
    assert success_delay(None, 0.0, jittery, 1.0) == pytest.approx(1080.0)
    assert success_delay(None, 900.0, jittery, 0.0) == pytest.approx(900.0)


@pytest.mark.parametrize(
    ("errors", "retry_after", "expected"),
    [
        (1, None, 900.0),  # a first error waits the normal interval, no more
        (2, None, 1800.0),
        (4, None, 7200.0),
        (20, None, 6 * HOUR),  # capped, never disabled
        (1, 7200.0, 7200.0),  # Retry-After longer than the backoff wins
        (2, 60.0, 1800.0),  # shorter Retry-After: backoff still applies
        (1, 30 * 86400.0, 6 * HOUR),  # an absurd Retry-After stops at the backoff cap
    ],
)
def test_error_delay(errors: int, retry_after: float | None, expected: float) -> None:
    assert error_delay(None, errors, retry_after, BOUNDS, 0.5) == pytest.approx(expected)


@given(
    rhythm=st.none() | st.floats(1, 1e8),
    errors=st.integers(0, 10_000),
    retry_after=st.none() | st.floats(0, 1e9),
    rand=st.floats(0, 0.999),
)
def test_error_delay_is_always_finite_and_at_most_the_cap(
    rhythm: float | None, errors: int, retry_after: float | None, rand: float
) -> None:
    jittery = IntervalBounds(900, 300, 4 * HOUR, 6 * HOUR, jitter=0.1)
    delay = error_delay(rhythm, errors, retry_after, jittery, rand)
    assert 1.0 <= delay <= 6 * HOUR * 1.1


@pytest.mark.parametrize(
    ("newest_age", "rhythm", "expected"),
    [
        (None, HOUR, False),
        (5 * 86400.0, None, False),
        (3 * 86400.0, HOUR, True),  # 72 gaps silent, past the 2-day minimum
        (86400.0, HOUR, False),  # 24 gaps, but under the minimum
        (3 * 86400.0, 86400.0, False),  # a daily feed quiet for 3 days is not stale
        (11 * 86400.0, 86400.0, True),
    ],
)
def test_is_stale(newest_age: float | None, rhythm: float | None, expected: bool) -> None:
    newest = None if newest_age is None else NOW - newest_age
    assert is_stale(newest, rhythm, NOW, factor=10.0, minimum_s=2 * 86400.0) is expected
