"""Pure interval math: how long until a feed is polled again, from how it publishes and what
its server asks. No I/O and no clock: `now` and the random draw are passed in.

The order of precedence, from weakest to strongest:
1. the configured interval, while a feed's rhythm is unknown;
2. its publishing rhythm (half the median gap between recent entries), between the bounds;
3. freshness hints (`Cache-Control: max-age`, `Expires`, RSS `<ttl>`, `sy:updatePeriod`), which
   only ever lengthen the interval (polling before the server's copy changes is wasted), and
   never beyond the upper bound, so a feed saying "ttl: one week" is still polled;
4. on errors, capped exponential backoff; on 429 and 503, at least the Retry-After delay.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from worker.fetching.httpdates import http_date_epoch

RHYTHM_FRACTION = 0.5  # poll twice per usual gap: a new entry waits half a gap on average
RHYTHM_SAMPLE = 20  # the most recent entries say how a feed publishes now
RETRY_AFTER_STATUSES = frozenset({429, 503})
MIN_DELAY_S = 1.0  # never hammer a feed, whatever the configuration says
_MAX_EXPONENT = 62  # 2**errors beyond this is past any sane cap, and float math stays finite

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.I)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\b", re.I)


@dataclass(frozen=True)
class IntervalBounds:
    """How fast and how slow one feed may be polled, and how errors back off."""

    configured_s: float  # the feed's own `interval`: used until its rhythm is known
    min_s: float
    max_s: float
    max_backoff_s: float
    jitter: float
    adaptive: bool = True

    @property
    def low(self) -> float:
        """A configured interval faster than the global minimum is the user's explicit wish."""
        return max(min(self.configured_s, self.min_s), MIN_DELAY_S)

    @property
    def high(self) -> float:
        return max(self.configured_s, self.max_s)


def publishing_rhythm(published: Iterable[float]) -> float | None:
    """Median gap in seconds between the most recent distinct publication times, or None with
    fewer than two of them (one entry says nothing about how often a feed publishes)."""
    times = sorted(set(published), reverse=True)[:RHYTHM_SAMPLE]
    gaps = [a - b for a, b in itertools.pairwise(times)]
    return statistics.median(gaps) if gaps else None


def base_interval(rhythm_s: float | None, bounds: IntervalBounds) -> float:
    """The interval from the feed's rhythm, clamped to its bounds; the configured one if the
    rhythm is unknown or adaptation is off."""
    if rhythm_s is None or not bounds.adaptive:
        return bounds.configured_s
    return min(max(rhythm_s * RHYTHM_FRACTION, bounds.low), bounds.high)


def max_age_seconds(cache_control: str | None) -> float | None:
    if not cache_control or _NO_CACHE.search(cache_control):
        return None
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else None


def expires_seconds(expires: str | None, now: float) -> float | None:
    """Seconds until an `Expires` date; None when absent, unreadable or already past."""
    when = http_date_epoch(expires)
    if when is None:
        return None
    left = when - now
    return left if left > 0 else None


def hint_seconds(
    headers: Mapping[str, str], feed_hints: Iterable[float | None], now: float
) -> float:
    """The longest freshness hint from response headers and the feed itself; 0 when none."""
    candidates = [
        max_age_seconds(headers.get("cache-control")),
        None if headers.get("cache-control") else expires_seconds(headers.get("expires"), now),
        *feed_hints,
    ]
    return max((c for c in candidates if c is not None and c > 0), default=0.0)


def success_delay(
    rhythm_s: float | None, hint_s: float, bounds: IntervalBounds, rand: float
) -> float:
    """Seconds until the next poll after a successful one. Jitter spreads polls, but a hint
    stays a floor: jitter never brings a poll before the server said anything could change."""
    base = base_interval(rhythm_s, bounds)
    jittered = next_poll_delay(
        base, 0, max_backoff_s=bounds.max_backoff_s, jitter=bounds.jitter, rand=rand
    )
    return max(jittered, min(hint_s, bounds.high))


def error_delay(
    rhythm_s: float | None,
    consecutive_errors: int,
    retry_after_s: float | None,
    bounds: IntervalBounds,
    rand: float,
) -> float:
    """Seconds until the next try after a failure: capped backoff (the feed is never given up),
    and at least what a 429/503 Retry-After asked, up to the backoff cap."""
    base = base_interval(rhythm_s, bounds)
    delay = next_poll_delay(
        base,
        consecutive_errors,
        max_backoff_s=bounds.max_backoff_s,
        jitter=bounds.jitter,
        rand=rand,
    )
    if retry_after_s is None:
        return delay
    return max(delay, min(retry_after_s, max(bounds.max_backoff_s, base)))


def is_stale(
    newest_entry_at: float | None,
    rhythm_s: float | None,
    now: float,
    *,
    factor: float,
    minimum_s: float,
) -> bool:
    """A feed is stale when its newest entry is older than `factor` usual gaps (and at least
    `minimum_s`, so a feed that publishes hourly is not stale after a quiet night)."""
    if newest_entry_at is None or rhythm_s is None:
        return False
    return now - newest_entry_at > max(factor * rhythm_s, minimum_s)


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
