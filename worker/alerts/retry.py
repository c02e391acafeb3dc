"""What a webhook response means, and when to try again: pure, with randomness passed in.

`schedule` lists the waits before each retry: [5s, 5m] means try now, again after ~5 s, once more
after ~5 min, then dead-letter. Jitter spreads retries (±jitter of the wait) so that many alerts
failing together do not retry in lockstep. A Retry-After from a 429 or 503 is a floor, itself
capped (by the schedule's largest step unless a `max_retry_after` is configured): a server asking
for 31,700 years must not park a delivery where it is neither sent nor dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.fetching.httpdates import retry_after_seconds

SUCCESS_MIN, SUCCESS_MAX = 200, 299
GONE = 410
_RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str = ""
    retry_after_s: float | None = None
    gone: bool = False


def is_delivered(status: int) -> bool:
    """Only a 2xx counts: a 3xx is not followed and a 4xx/5xx is a failure."""
    return SUCCESS_MIN <= status <= SUCCESS_MAX


def classify(status: int, headers: Mapping[str, str], now: datetime) -> Outcome:
    if is_delivered(status):
        return Outcome(True)
    if status == GONE:
        return Outcome(False, "HTTP 410 Gone: endpoint disabled", gone=True)
    retry_after = None
    if status in _RETRY_AFTER_STATUSES:
        retry_after = retry_after_seconds(headers.get("retry-after"), now)
    return Outcome(False, f"HTTP {status}", retry_after)


def retry_delay(
    schedule: Sequence[float],
    attempts_made: int,
    jitter: float,
    rand: float,
    retry_after_s: float | None = None,
    max_retry_after_s: float | None = None,
) -> float | None:
    """Seconds until the next try after `attempts_made` failed tries, or None when exhausted
    (the caller dead-letters it then, whatever a Retry-After asked)."""
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = max(0.0, base * (1.0 + jitter * (2.0 * rand - 1.0)))
    return max(delay, min(retry_after_s or 0.0, retry_after_cap(schedule, max_retry_after_s)))


def retry_after_cap(schedule: Sequence[float], max_retry_after_s: float | None) -> float:
    """The longest wait a server's Retry-After may impose: the configured maximum, else the
    schedule's largest step."""
    if max_retry_after_s is not None:
        return max_retry_after_s
    return max(schedule, default=0.0)
