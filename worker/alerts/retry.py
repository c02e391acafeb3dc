"""When to try a delivery again: pure, with the randomness passed in.

`schedule` lists the waits before each retry: [5s, 5m] means try now, again after ~5 s, once more
after ~5 min, then dead-letter. Jitter spreads retries (±jitter of the wait) so that many alerts
failing together do not retry in lockstep.
"""

from __future__ import annotations

from collections.abc import Sequence

SUCCESS_MIN, SUCCESS_MAX = 200, 299


def is_delivered(status: int) -> bool:
    """Only a 2xx counts: a 3xx is not followed and a 4xx/5xx is a failure."""
    return SUCCESS_MIN <= status <= SUCCESS_MAX


def retry_delay(
    schedule: Sequence[float], attempts_made: int, jitter: float, rand: float
) -> float | None:
    """Seconds until the next try after `attempts_made` failed tries, or None when exhausted."""
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    return max(0.0, base * (1.0 + jitter * (2.0 * rand - 1.0)))
