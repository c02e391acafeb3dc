"""Pure scheduling math: when to poll a feed next, and what a Retry-After header asks for."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

MIN_DELAY_S = 1.0  # never hammer a feed, whatever the configuration says
_MAX_EXPONENT = 62  # 2**errors beyond this is past any sane cap, and float math stays finite


def next_poll_delay(
    interval_s: float,
    consecutive_errors: int,
    *,
    max_backoff_s: float,
    jitter: float,
    rand: float,
) -> float:
    """Seconds until the next poll. A first error waits the normal interval (one transient
    failure, a reset connection, costs a feed no more than that); each further consecutive
    error doubles the wait up to `max_backoff_s`, never disabling the feed: it comes back on its
    own. The cap never shortens the normal interval.
    `jitter` (a fraction, e.g. 0.1) spreads polls by ±jitter*delay using `rand` in [0, 1) so
    feeds added together do not stay in lockstep."""
    base = _backed_off(interval_s, consecutive_errors, max_backoff_s)
    spread = min(max(jitter, 0.0), 1.0) * (2.0 * rand - 1.0)
    return max(base * (1.0 + spread), MIN_DELAY_S)


def _backed_off(interval_s: float, consecutive_errors: int, max_backoff_s: float) -> float:
    if consecutive_errors <= 1:
        return interval_s
    exponent = min(consecutive_errors - 1, _MAX_EXPONENT)
    return max(interval_s, min(interval_s * 2.0**exponent, max_backoff_s))


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks to wait, from either form: delta-seconds ("120") or an
    HTTP-date. None when absent or unreadable; 0 for a date already past."""
    value = (header or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max((_aware(when) - _aware(now)).total_seconds(), 0.0)


def _aware(moment: datetime) -> datetime:
    """HTTP dates are GMT; a naive datetime here means UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
