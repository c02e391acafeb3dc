"""Table tests and properties of the poll scheduling math."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.fetching.httpdates import retry_after_seconds
from worker.polling.intervals import MIN_DELAY_S, next_poll_delay


@pytest.mark.parametrize(
    ("interval", "errors", "max_backoff", "jitter", "rand", "expected"),
    [
        (300, 0, 3600, 0.0, 0.5, 300),
        (300, 0, 3600, 0.1, 0.5, 300),  # rand 0.5 is the middle of the spread
        (300, 0, 3600, 0.1, 0.0, 270),
        (300, 0, 3600, 0.1, 0.75, 315),
        (300, 1, 3600, 0.0, 0.5, 300),  # one transient error costs no more than an interval
        (300, 1, 3600, 0.1, 0.75, 315),  # (jittered as every poll is)
        (300, 2, 3600, 0.0, 0.5, 600),
        (300, 3, 3600, 0.0, 0.5, 1200),
        (300, 4, 3600, 0.0, 0.5, 2400),
        (300, 5, 3600, 0.0, 0.5, 3600),  # capped
        (300, 50, 3600, 0.0, 0.5, 3600),  # never gives up, never disables
        (300, 10_000, 3600, 0.0, 0.5, 3600),  # no overflow
        (300, 5, 3600, 0.2, 0.0, 2880),  # jitter applies to the capped delay too
        (7200, 3, 3600, 0.0, 0.5, 7200),  # the cap never shortens the normal interval
        (0.1, 0, 3600, 0.0, 0.5, MIN_DELAY_S),  # floor
        (300, -1, 3600, 0.0, 0.5, 300),  # nonsense error counts read as none
        (300, 0, 3600, 5.0, 0.0, MIN_DELAY_S),  # jitter is clamped to 100 %
    ],
)
def test_next_poll_delay_table(
    interval: float, errors: int, max_backoff: float, jitter: float, rand: float, expected: float
) -> None:
    delay = next_poll_delay(interval, errors, max_backoff_s=max_backoff, jitter=jitter, rand=rand)
    assert delay == pytest.approx(expected)


intervals = st.floats(min_value=1, max_value=86_400)
errors = st.integers(min_value=0, max_value=200)
jitters = st.floats(min_value=0, max_value=0.5)
rands = st.floats(min_value=0, max_value=1, exclude_max=True)


@given(intervals, errors, st.floats(min_value=1, max_value=7 * 86_400), jitters, rands)
def test_delay_is_always_within_bounds(
    interval: float, n: int, max_backoff: float, jitter: float, rand: float
) -> None:
    delay = next_poll_delay(interval, n, max_backoff_s=max_backoff, jitter=jitter, rand=rand)
    ceiling = max(interval, max_backoff) * (1 + jitter)
    floor = interval * (1 - jitter)
    assert max(MIN_DELAY_S, floor) - 1e-9 <= delay <= max(ceiling, MIN_DELAY_S) + 1e-9


@given(intervals, st.integers(min_value=1, max_value=30), jitters, rands)
def test_delay_grows_with_errors_until_the_cap(
    interval: float, n: int, jitter: float, rand: float
) -> None:
    cap = interval * 2**31  # out of reach for n <= 30: the doubling is visible
    before = next_poll_delay(interval, n, max_backoff_s=cap, jitter=jitter, rand=rand)
    after = next_poll_delay(interval, n + 1, max_backoff_s=cap, jitter=jitter, rand=rand)
    assert after >= before
    assert after == pytest.approx(max(before * 2, MIN_DELAY_S)) or before <= MIN_DELAY_S


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "now", "expected"),
    [
        ("120", NOW, 120.0),
        ("0", NOW, 0.0),
        ("  30 ", NOW, 30.0),
        ("Sun, 29 Nov 2026 12:02:00 GMT", NOW, 120.0),  # IMF-fixdate
        ("Sunday, 29-Nov-26 12:01:00 GMT", NOW, 60.0),  # obsolete RFC 850
        ("Sun Nov 29 12:00:30 2026", NOW, 30.0),  # obsolete asctime
        ("Sun, 29 Nov 2026 11:00:00 GMT", NOW, 0.0),  # already past
        ("Sun, 29 Nov 2026 12:02:00 GMT", NOW.replace(tzinfo=None), 120.0),  # naive now is UTC
        (None, NOW, None),
        ("", NOW, None),
        ("soon", NOW, None),
        ("-5", NOW, None),
        ("1.5", NOW, None),
        ("١٢٠", NOW, None),  # non-ASCII digits are not delta-seconds
    ],
)
def test_retry_after_seconds(header: str | None, now: datetime, expected: float | None) -> None:
    assert retry_after_seconds(header, now) == expected
