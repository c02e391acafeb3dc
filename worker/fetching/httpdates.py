"""HTTP dates and Retry-After: the two time formats servers send, read one way everywhere
(the poller's freshness hints and backoff, the notifier's retries)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def http_date_epoch(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date (`Expires`, `Last-Modified`); None when absent or bad."""
    if not value or not value.strip():
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return _aware(when).timestamp()


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
