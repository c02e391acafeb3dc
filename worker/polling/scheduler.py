"""The scheduler role: APScheduler times each feed's next poll inside this process.

The shared truth (when each feed is next due, who is polling it) lives in Redis, never in an
APScheduler job store, so any number of scheduler processes can run. Every process keeps a timer
for every feed. When one fires, a Lua script claims the feed atomically: it is polled only if its
shared `next_poll` is due and no lease is held, and the poll writes the new `next_poll` before
the lease is dropped, so a second process firing for the same due time finds it done and follows
the new time. A process that dies leaves a lease that expires; the others' timers for that feed
then fire at its due time, so they take over within one interval.

Host politeness is asked without blocking: a feed whose host is busy goes back on the timer for
as long as the host asks, and no polling thread sits idle.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from worker.polling.politeness import HostGate, HostSlot
from worker.polling.poller import FeedLike, FeedPoller, PollOutcome, feed_name

_START_SPREAD_S = 10.0  # spread the first polls so start-up is not a burst on every host
_DUE_TOLERANCE_S = 0.0  # a timer firing early just waits: any slack here lets a second
# process poll again right after the first (when the interval is short)
_LEASED_RECHECK_S = 5.0  # another process is polling it: look again soon for its new time

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
    ) -> None:
        self.poller = poller
        self.feeds = {feed.url: feed for feed in feeds}
        self.log = log
        self.clock = clock
        self.gate = gate
        self.lease_s = lease_s
        self.start_spread_s = start_spread_s
        client = poller.client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._stopped = threading.Event()
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=concurrency)},
            job_defaults={"misfire_grace_time": None, "coalesce": True},
        )

    def start(self) -> None:
        now = self.clock()
        for url, stored in zip(self.feeds, self._stored_due_times(), strict=True):
            spread = random.random() * self.start_spread_s / _START_SPREAD_S
            delay = first_delay(stored, now, spread)
            self._schedule(url, delay)
        self._aps.start()
        self.log.info("scheduler_started", feeds=len(self.feeds))

    def stop(self, wait: bool = True) -> None:
        """Stop timing; `wait` lets in-flight polls finish their enqueue."""
        self._stopped.set()
        # Pause, then let a pass over due jobs finish (it holds this lock): shutting down in
        # the middle of one makes APScheduler's loop fail looking up the job it just ran.
        self._aps.pause()
        with self._aps._jobstores_lock:
            pass
        self._aps.shutdown(wait=wait)

    def run_until(self, stop: threading.Event) -> None:
        self.start()
        stop.wait()
        self.stop()
        self.log.info("scheduler_stopped")

    def _stored_due_times(self) -> list[float | None]:
        pipe = self.poller.client.pipeline(transaction=False)
        for url in self.feeds:
            pipe.hget(self.poller.keys.feed_state(url), "next_poll")
        return [float(v) if v else None for v in pipe.execute()]

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

    def release(self, feed_url: str, claim: Claim) -> None:
        self._release(keys=[self.poller.keys.feed_lease(feed_url)], args=[claim.token])

    def poll_now(self, feed_url: str) -> PollOutcome | None:
        """Poll one feed if it is due, no one else holds it and its host allows; else None."""
        claim = self.claim(feed_url)
        if claim.kind != "mine":
            return None
        try:
            slot = self._host_slot(feed_url)
            if not isinstance(slot, HostSlot | None):
                return None
            return self._poll_in_slot(self.feeds[feed_url], claim, slot)
        finally:
            self.release(feed_url, claim)

    def _host_slot(self, feed_url: str) -> HostSlot | float | None:
        return None if self.gate is None else self.gate.try_acquire(feed_url)

    def _poll_in_slot(self, feed: FeedLike, claim: Claim, slot: HostSlot | None) -> PollOutcome:
        try:
            return self._poll_guarded(feed, claim.state)
        finally:
            if slot is not None and self.gate is not None:
                self.gate.release(slot)

    def _poll_guarded(self, feed: FeedLike, state: dict[str, str] | None) -> PollOutcome:
        try:
            return self.poller.poll(feed, state)
        except Exception as exc:  # a bug or a Redis outage must not end this feed's polling
            self.log.exception("feed_poll_crashed", feed=feed_name(feed), error=str(exc))
            return PollOutcome(0, feed.interval, "error", str(exc))

    def _job(self, feed_url: str) -> None:
        try:
            delay = self._run_once(feed_url)
        except Exception as exc:  # Redis unreachable: keep the timer alive and try again
            self.log.exception("feed_schedule_failed", feed=feed_url, error=str(exc))
            delay = _LEASED_RECHECK_S
        self._schedule(feed_url, delay)

    def _run_once(self, feed_url: str) -> float:
        """Claim, poll when allowed, and say when to look at this feed again."""
        claim = self.claim(feed_url)
        if claim.kind == "later":
            return claim.due - self.clock()
        if claim.kind == "leased":
            return _LEASED_RECHECK_S
        try:
            slot = self._host_slot(feed_url)
            if not isinstance(slot, HostSlot | None):
                return slot + random.random() * 0.05  # host busy: the feed stays due
            return self._poll_in_slot(self.feeds[feed_url], claim, slot).next_delay_s
        finally:
            self.release(feed_url, claim)

    def _schedule(self, feed_url: str, delay_s: float) -> None:
        if self._stopped.is_set():
            return
        run_at = datetime.fromtimestamp(self.clock() + max(delay_s, 0.0), UTC)
        self._aps.add_job(
            self._job, "date", run_date=run_at, args=[feed_url], id=feed_url,
            replace_existing=True, max_instances=2,
        )  # fmt: skip
        # 2, not 1: a job re-adds itself just before it returns, and a short delay could fire
        # the new one while APScheduler still counts the old instance; a skipped date job would
        # be dropped, and the feed never polled again. The Redis lease still prevents overlap.
