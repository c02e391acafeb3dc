"""Spike alerts: a watchlist's stories per bucket against its own baseline (docs/archive.md).

The model, per watchlist that opted in (`spike: {bucket, min_stories, sensitivity}`):

- the count of a bucket is the number of distinct stories among the articles the watchlist
  matched in it (buckets are aligned to the epoch, so hourly buckets are clock hours, UTC);
- the level is an EWMA of the past buckets' counts (half-life one week, zeros included, started
  at their mean), from the watchlist's first match within the last four weeks;
- a seasonal factor scales it to this bucket's place in the week (same weekday and time of day)
  once two weeks of history exist, else in the day (same time of day) once two days exist: the
  mean of those same-place buckets over the overall mean, shrunk towards 1 by `_SHRINK` pseudo
  observations, so a place seen twice cannot swing the baseline far;
- the expectation λ is inflated by one standard error of its estimate, sqrt(λ / n) with n the
  EWMA's effective sample size, or the same-place buckets (plus the pseudo observations) when a
  seasonal factor applies, so the uncertainty of a short history is not mistaken for a spike;
- the bucket is a spike when its count c is at least `min_stories` and the Poisson upper tail
  P(X ≥ c | λ) is below `sensitivity`.

The current bucket is tested while it fills, with its running count: a burst is reported within
the bucket it happens in, and since a running count only grows, testing often raises no more
false alarms than one test at the bucket's end would. One `alert.spike` per watchlist and
bucket, whichever archiver sees it first (a marker in Redis, set with the alert atomically).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.alerts.envelope import EMIT_ONCE, AlertRecord, EventType, envelope_body
from worker.archive.store import ArchiveStore
from worker.config.archive import SpikeConfig
from worker.config.models import WatchlistConfig
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.times import iso_z

SPIKE_EVENT = EventType.ALERT_SPIKE
HISTORY_S = 28 * 86400.0
HALF_LIFE_S = 7 * 86400.0
DAY_S, WEEK_S = 86400.0, 7 * 86400.0
_SHRINK = 2.0  # pseudo observations pulling a seasonal factor towards 1
_Z = 1.0  # standard errors added to λ
_MIN_HISTORY_S = DAY_S  # no verdict before a day of history
_FLOOR = 0.05  # the least λ: a watchlist quiet so far still expects something
_CHECK_EVERY_S = 60.0


@dataclass(frozen=True)
class SpikeVerdict:
    bucket_start: float
    stories: int  # distinct stories so far in the bucket
    expected: float  # λ, inflated for estimation error
    p_value: float  # P(X >= stories | λ)
    spike: bool
    story_ids: tuple[str, ...] = ()


def poisson_upper_tail(count: int, rate: float) -> float:
    """P(X >= count) for X ~ Poisson(rate), summed from the tail (exact for tiny values)."""
    if count <= 0:
        return 1.0
    log_rate = math.log(rate)
    total, k = 0.0, count
    while True:
        term = math.exp(k * log_rate - rate - math.lgamma(k + 1))
        total += term
        if k > rate and term < total * 1e-12:
            return min(1.0, total)
        k += 1


def bucket_counts(events: Sequence[tuple[float, str]], bucket_s: float) -> dict[int, set[str]]:
    """Bucket index -> the distinct story ids in it."""
    buckets: dict[int, set[str]] = {}
    for at, story in events:
        buckets.setdefault(int(at // bucket_s), set()).add(story)
    return buckets


def expected_stories(counts: Sequence[int], first: int, now_bucket: int, bucket_s: float) -> float:
    """λ for bucket `now_bucket` from the counts of buckets first .. now_bucket - 1 (module doc)."""
    n = len(counts)
    alpha = 1.0 - 0.5 ** (bucket_s / HALF_LIFE_S)
    mean = sum(counts) / n
    level = mean  # started at the mean, not the first bucket, which may be an outlier
    for count in counts:
        level += alpha * (count - level)
    factor, effective = 1.0, min(n, (2.0 - alpha) / alpha)
    for period in (WEEK_S, DAY_S):
        if period % bucket_s or n * bucket_s < 2 * period:
            continue
        per = int(period // bucket_s)
        same = [c for k, c in enumerate(counts, start=first) if (k - now_bucket) % per == 0]
        if mean > 0:
            factor = (sum(same) + _SHRINK * mean) / ((len(same) + _SHRINK) * mean)
            effective = min(effective, len(same) + _SHRINK)  # the factor rests on these few
        break
    rate = max(_FLOOR, level * factor)
    return rate + _Z * math.sqrt(rate / effective)


def judge(
    events: Sequence[tuple[float, str]], now: float, config: SpikeConfig
) -> SpikeVerdict | None:
    """The verdict on the bucket holding `now`; None without a day of history."""
    b = config.bucket
    now_bucket = int(now // b)
    buckets = bucket_counts([(at, s) for at, s in events if at >= now - HISTORY_S], b)
    past = [k for k in buckets if k < now_bucket]
    if not past:
        return None
    first = min(past)
    if (now_bucket - first) * b < _MIN_HISTORY_S:
        return None
    counts = [len(buckets.get(k, ())) for k in range(first, now_bucket)]
    rate = expected_stories(counts, first, now_bucket, b)
    current = buckets.get(now_bucket, set())
    p_value = poisson_upper_tail(len(current), rate)
    spike = len(current) >= config.min_stories and p_value < config.sensitivity
    return SpikeVerdict(now_bucket * b, len(current), rate, p_value, spike, tuple(sorted(current)))


def spike_event_id(watchlist_id: str, bucket_start: float) -> str:
    digest = hashlib.sha256(f"{watchlist_id}\n{int(bucket_start)}".encode()).hexdigest()[:24]
    return "sp_" + digest


def spike_data(
    watchlist: WatchlistConfig, verdict: SpikeVerdict, bucket_s: float
) -> dict[str, Any]:
    """The `data` of an `alert.spike` webhook."""
    start, end = verdict.bucket_start, verdict.bucket_start + bucket_s
    return {
        "event_id": spike_event_id(watchlist.id, verdict.bucket_start),
        "watchlist": {"id": watchlist.id, "name": watchlist.name},
        "bucket": {"start": iso_z(start), "end": iso_z(end), "seconds": int(bucket_s)},
        "stories": verdict.stories,
        "expected": round(verdict.expected, 3),
        "p_value": verdict.p_value,
        "story_ids": list(verdict.story_ids[:20]),
    }


@dataclass
class SpikeWatch:
    """Checks every opted-in watchlist about once a minute and emits its spikes."""

    client: Client
    keys: Keys
    store: ArchiveStore
    watchlists: Sequence[WatchlistConfig]  # those with `spike` set
    log: Any
    clock: Callable[[], float] = time.time
    _next_check: float = field(default=0.0, init=False)
    _emit: Any = field(default=None, init=False)

    @classmethod
    def build(
        cls,
        client: Client,
        keys: Keys,
        store: ArchiveStore,
        watchlists: Sequence[WatchlistConfig],
        log: Any,
    ) -> SpikeWatch:
        watch = cls(client, keys, store, watchlists, log)
        watch._emit = client.register_script(EMIT_ONCE)
        return watch

    def check_when_due(self) -> int:
        now = self.clock()
        if now < self._next_check:
            return 0
        self._next_check = now + _CHECK_EVERY_S
        return self.check(now)

    def check(self, now: float) -> int:
        """Judge every watched watchlist's current bucket; returns how many spikes were sent."""
        sent = 0
        for watchlist in self.watchlists:
            config = watchlist.spike
            if config is None:
                continue
            events = self.store.watchlist_stories(watchlist.id, now - HISTORY_S)
            verdict = judge(events, now, config)
            if verdict is not None and verdict.spike:
                sent += self._send(watchlist, verdict, config.bucket, now)
        return sent

    def _send(
        self, watchlist: WatchlistConfig, verdict: SpikeVerdict, bucket_s: float, now: float
    ) -> int:
        data = spike_data(watchlist, verdict, bucket_s)
        body = envelope_body(SPIKE_EVENT, data, now)
        marker = self.keys.alert_marker(data["event_id"])
        record = AlertRecord(tuple(watchlist.notify), body)
        args = [int(2 * bucket_s + DAY_S), *record.script_args()]
        sent = int(self._emit(keys=[self.keys.alerts_stream, marker], args=args))
        if sent:
            self.log.info(
                "spike_detected",
                watchlist=watchlist.id,
                stories=verdict.stories,
                expected=round(verdict.expected, 2),
                p_value=verdict.p_value,
            )
        return sent


def stories_per_bucket(events: Sequence[tuple[float, str]], bucket_s: float) -> Counter[int]:
    """Distinct stories per bucket index (for reports and benchmarks)."""
    return Counter({k: len(v) for k, v in bucket_counts(events, bucket_s).items()})


_MAX_THRESHOLD = 100_000


def spike_threshold(rate: float, config: SpikeConfig) -> int:
    """The fewest stories a bucket expecting `rate` needs to be a spike."""
    count = max(config.min_stories, math.floor(rate))
    while count < _MAX_THRESHOLD and poisson_upper_tail(count, rate) >= config.sensitivity:
        count += 1
    return count


@dataclass(frozen=True)
class BucketPoint:
    bucket_start: float
    stories: int
    expected: float | None  # None before a day of history
    threshold: int | None
    spike: bool


def bucket_series(
    events: Sequence[tuple[float, str]], now: float, config: SpikeConfig, count: int
) -> list[BucketPoint]:
    """The last `count` buckets up to the one holding `now`: each one's stories and the
    baseline the detector held for it (λ and the spike threshold), as `judge` saw it at the
    bucket's end (for the dashboard)."""
    b = config.bucket
    now_bucket = int(now // b)
    points = []
    for k in range(now_bucket - count + 1, now_bucket + 1):
        moment = min(now, (k + 1) * b - 0.001)
        verdict = judge([e for e in events if e[0] <= moment], moment, config)
        if verdict is None:
            stories = len({s for at, s in events if int(at // b) == k})
            points.append(BucketPoint(k * b, stories, None, None, False))
            continue
        threshold = spike_threshold(verdict.expected, config)
        points.append(
            BucketPoint(k * b, verdict.stories, verdict.expected, threshold, verdict.spike)
        )
    return points
