"""The scheduler role: when each feed is next due in this process, and who polls it.

The shared truth (when each feed is next due, who is polling it) lives in Redis, never in an
APScheduler job store, so any number of scheduler processes can run. Every process keeps a timer
for every feed: one heap of (due time, feed) in memory, and one APScheduler interval job that
hands the due feeds to a pool of polling threads (one job per feed made APScheduler itself the
largest CPU cost at 10,000 feeds). A thread that finishes a poll also hands out the next due
feed at once. For each feed handed out, a Lua script claims it atomically: it is polled only if
its shared `next_poll` is due and no lease is held, and the poll writes the new `next_poll`
before the lease is dropped, so a second process firing for the same due time finds it done and
follows the new time. A process that dies leaves a lease that expires; the others' timers for
that feed then fire at its due time, so they take over within one interval.

Host politeness is asked without blocking: a feed whose host is busy goes back on the timer for
as long as the host asks, and no polling thread sits idle.

The feed list can be replaced while running (`replace_feeds`, on a config reload): a removed
feed's timer entry is dropped when it comes due and a poll of it already running finishes; an
added one is due now (or at its stored due time); a changed one is polled with its new settings
from its next poll on.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor as TimerExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from worker.feeds.model import FeedLike, feed_name
from worker.fetching.politeness import HostGate, HostSlot
from worker.observability.resilience import wait_for_stop
from worker.polling.poller import FeedPoller, PollOutcome, PollStatus

_START_SPREAD_S = 10.0  # spread the first polls so start-up is not a burst on every host
_DUE_TOLERANCE_S = 0.0  # a timer firing early just waits: any slack here lets a second
# process poll again right after the first (when the interval is short)
_LEASED_RECHECK_S = 5.0  # another process is polling it: look again soon for its new time
_TICK_S = 0.2  # how often the timer looks for newly due feeds (a finished poll looks at once)

_CLAIM = """
local due = tonumber(redis.call('HGET', KEYS[1], 'next_poll') or '0')
if due > tonumber(ARGV[1]) + tonumber(ARGV[4]) then
  return {'later', tostring(due)}
end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', tonumber(ARGV[3])) then
  return {'leased'}
end
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'mine')
return reply
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def first_delay(next_poll: float | None, now: float, rand: float) -> float:
    """Seconds until a feed's first poll in this process: its stored due time, or soon."""
    if next_poll is not None and next_poll > now:
        return next_poll - now
    return rand * _START_SPREAD_S


@dataclass(frozen=True)
class FeedChanges:
    """What replacing the feed list did, for the reload log."""

    added: int
    removed: int
    changed: int


def feed_settings(feed: FeedLike) -> tuple[str | None, float, tuple[str, ...]]:
    """What a config edit can change about a feed (its URL is its identity)."""
    return feed.name, feed.interval, tuple(feed.tags)


def changes_between(old: Mapping[str, FeedLike], new: Mapping[str, FeedLike]) -> FeedChanges:
    """Feeds added, removed and changed from `old` to `new` (both by URL)."""
    added = sum(url not in old for url in new)
    removed = sum(url not in new for url in old)
    changed = sum(
        url in old and feed_settings(feed) != feed_settings(old[url]) for url, feed in new.items()
    )
    return FeedChanges(added, removed, changed)


@dataclass(frozen=True)
class Claim:
    kind: str  # "mine", "later" (due at `due`), "leased" (another process polls it)
    token: str = ""
    due: float = 0.0
    state: dict[str, str] | None = None


class FeedScheduler:
    def __init__(
        self,
        poller: FeedPoller,
        feeds: Sequence[FeedLike],
        log: Any,
        clock: Callable[[], float],
        *,
        gate: HostGate | None = None,
        concurrency: int = 8,
        lease_s: float = 120.0,
        start_spread_s: float = _START_SPREAD_S,
        tick_s: float = _TICK_S,
    ) -> None:
        self.poller = poller
        self.feeds = {feed.url: feed for feed in feeds}
        self.log = log
        self.clock = clock
        self.gate = gate
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.start_spread_s = start_spread_s
        self.tick_s = tick_s
        client = poller.client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._stopped = threading.Event()
        self._due: list[tuple[float, int, str]] = []  # heap of (due time, tie-break, feed URL)
        self._timed: set[str] = set()  # feeds with a heap entry or a poll running: one each
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll")
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": TimerExecutor(max_workers=1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        urls = list(self.feeds)
        now = self.clock()
        for url, stored in zip(urls, self._stored_due_times(urls), strict=True):
            spread = random.random() * self.start_spread_s / _START_SPREAD_S
            self._time_feed(url, now + first_delay(stored, now, spread))
        self._aps.add_job(self._dispatch, "interval", seconds=self.tick_s, id="feed-timer")
        self._aps.start()
        self.log.info("scheduler_started", feeds=len(self.feeds))

    def stop(self, wait: bool = True) -> None:
        """Stop timing; `wait` lets in-flight polls finish their enqueue."""
        self._stopped.set()
        self._aps.shutdown(wait=wait)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def run_until(self, stop: threading.Event) -> None:
        self.start()
        wait_for_stop(stop)
        self.stop()
        self.log.info("scheduler_stopped")

    def _stored_due_times(self, urls: Sequence[str]) -> list[float | None]:
        pipe = self.poller.client.pipeline(transaction=False)
        for url in urls:
            pipe.hget(self.poller.keys.feed_state(url), "next_poll")
        return [float(v) if v else None for v in pipe.execute()]

    def replace_feeds(self, feeds: Sequence[FeedLike]) -> FeedChanges:
        """Poll these feeds from now on (see the module docstring for what happens to each)."""
        new = {feed.url: feed for feed in feeds}
        old = self.feeds
        added = [url for url in new if url not in old]
        stored = self._stored_due_times(added)  # before the swap: a Redis error changes nothing
        self.feeds = new  # one assignment: a poll starting now sees the old list or the new one
        now = self.clock()
        for url, due in zip(added, stored, strict=True):
            self._time_feed(url, now + first_delay(due, now, 0.0))
        return changes_between(old, new)

    def claim(self, feed_url: str) -> Claim:
        keys = self.poller.keys
        token = uuid.uuid4().hex
        lease_keys = [keys.feed_state(feed_url), keys.feed_lease(feed_url)]
        args: list[Any] = [self.clock(), token, max(int(self.lease_s), 1), _DUE_TOLERANCE_S]
        reply = self._claim(keys=lease_keys, args=args)
        if reply[0] == "later":
            return Claim("later", due=float(reply[1]))
        if reply[0] == "leased":
            return Claim("leased")
        pairs = reply[1:]
        return Claim("mine", token, state=dict(zip(pairs[::2], pairs[1::2], strict=True)))

    def release(self, feed_url: str, claim: Claim, client: Any = None) -> None:
        """Drop the lease (with `client`, a pipeline: queued there)."""
        lease = self.poller.keys.feed_lease(feed_url)
        if client is None:
            self._release(keys=[lease], args=[claim.token])
            return
        # EVAL, not the registered script: redis-py checks every registered script of a
        # pipeline with SCRIPT EXISTS before executing it, one more round trip per poll.
        # (execute_command: a cluster pipeline has no eval() method, and routes EVAL by its keys)
        client.execute_command("EVAL", _RELEASE, 1, lease, claim.token)

    def poll_now(self, feed_url: str) -> PollOutcome | None:
        """Poll one feed if it is due, no one else holds it and its host allows; else None."""
        claim = self.claim(feed_url)
        if claim.kind != "mine":
            return None
        outcome = self._poll_claimed(self.feeds[feed_url], claim)
        return outcome if isinstance(outcome, PollOutcome) else None

    def _poll_claimed(self, feed: FeedLike, claim: Claim) -> PollOutcome | float:
        """Poll a claimed feed inside its host's limits, or the seconds the host asks to wait.
        Lease and host slot are released with the state write when the poll gets that far."""
        feed_url = feed.url
        released = False

        def finish(pipe: Any) -> None:
            nonlocal released
            self.release(feed_url, claim, pipe)
            if isinstance(slot, HostSlot) and self.gate is not None:
                self.gate.release(slot, pipe)
            released = True

        slot: HostSlot | float | None = None
        try:
            slot = self._host_slot(feed_url)
            if not isinstance(slot, HostSlot | None):
                return slot
            return self._poll_guarded(feed, claim.state, finish)
        finally:
            if not released:
                finish(None)

    def _host_slot(self, feed_url: str) -> HostSlot | float | None:
        return None if self.gate is None else self.gate.try_acquire(feed_url)

    def _poll_guarded(
        self, feed: FeedLike, state: dict[str, str] | None, finish: Callable[[Any], None]
    ) -> PollOutcome:
        try:
            return self.poller.poll(feed, state, finish=finish)
        except Exception as exc:  # a bug or a Redis outage must not end this feed's polling
            self.log.exception("feed_poll_crashed", feed=feed_name(feed), error=str(exc))
            return PollOutcome(0, feed.interval, PollStatus.ERROR, str(exc))

    # -- timing within this process ------------------------------------------------------------

    def _time_feed(self, feed_url: str, due: float) -> None:
        """Put a feed on the timer unless it is there already (or being polled): a feed
        removed and added back before its old entry came due keeps that entry."""
        with self._lock:
            if feed_url not in self._timed:
                self._timed.add(feed_url)
                heapq.heappush(self._due, (due, next(self._order), feed_url))

    def _push(self, feed_url: str, due: float) -> None:
        """Put a polled feed back on the timer, or let it go if it is no longer configured."""
        with self._lock:
            if feed_url in self.feeds:
                heapq.heappush(self._due, (due, next(self._order), feed_url))
            else:
                self._timed.discard(feed_url)

    def _pop_due(self) -> str | None:
        """The next due feed, counted in flight, while a polling thread is free; the entries of
        feeds removed from the config are dropped on the way."""
        now = self.clock()
        with self._lock:
            while self._in_flight < self.concurrency and self._due and self._due[0][0] <= now:
                feed_url = heapq.heappop(self._due)[2]
                if feed_url in self.feeds:
                    self._in_flight += 1
                    return feed_url
                self._timed.discard(feed_url)
            return None

    def _dispatch(self) -> None:
        """Hand due feeds to the polling threads that are free (one pass: at most one feed per
        thread, so a tick never outlasts its interval while finished polls keep freeing them)."""
        for _ in range(self.concurrency):
            if self._stopped.is_set():
                return
            feed_url = self._pop_due()
            if feed_url is None:
                return
            try:
                self._pool.submit(self._job, feed_url)
            except RuntimeError:  # stopped meanwhile: the pool takes no more work
                return

    def _job(self, feed_url: str) -> None:
        try:
            delay = self._run_once(feed_url)
        except Exception as exc:  # Redis unreachable: keep the timer alive and try again
            self.log.exception("feed_schedule_failed", feed=feed_url, error=str(exc))
            delay = _LEASED_RECHECK_S
        with self._lock:
            self._in_flight -= 1
        self._push(feed_url, self.clock() + max(delay, 0.0))
        self._dispatch()  # this thread is free: the next due feed need not wait for the tick

    def _run_once(self, feed_url: str) -> float:
        """Claim, poll when allowed, and say when to look at this feed again."""
        feed = self.feeds.get(feed_url)
        if feed is None:  # removed since it was handed out: its entry is dropped after this
            return 0.0
        claim = self.claim(feed_url)
        if claim.kind == "later":
            return claim.due - self.clock()
        if claim.kind == "leased":
            return _LEASED_RECHECK_S
        outcome = self._poll_claimed(feed, claim)
        if isinstance(outcome, PollOutcome):
            return outcome.next_delay_s
        return outcome + random.random() * 0.05  # host busy: the feed stays due
