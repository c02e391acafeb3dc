"""The scheduler role: APScheduler times each feed's next poll inside this process.

The shared truth (when each feed is next due, who is polling it) lives in Redis, never in an
APScheduler job store, so any number of scheduler processes can run: a short lease per feed means
one of them polls each due time, and the others see the new `next_poll` and wait for it.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from worker.polling.poller import FeedLike, FeedPoller, PollOutcome, feed_name

_LEASE_S = 120
_START_SPREAD_S = 10.0  # spread the first polls so start-up is not a burst on every host


def first_delay(next_poll: float | None, now: float, rand: float) -> float:
    """Seconds until a feed's first poll in this process: its stored due time, or soon."""
    if next_poll is not None and next_poll > now:
        return next_poll - now
    return rand * _START_SPREAD_S


class FeedScheduler:
    def __init__(
        self, poller: FeedPoller, feeds: Sequence[FeedLike], log: Any, clock: Callable[[], float]
    ) -> None:
        self.poller = poller
        self.feeds = {feed.url: feed for feed in feeds}
        self.log = log
        self.clock = clock
        self._aps = BackgroundScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None})

    def start(self) -> None:
        for feed in self.feeds.values():
            state = self.poller.state(feed.url)
            stored = float(state["next_poll"]) if state.get("next_poll") else None
            self._schedule(feed.url, first_delay(stored, self.clock(), random.random()))
        self._aps.start()
        self.log.info("scheduler_started", feeds=len(self.feeds))

    def run_until(self, stop: threading.Event) -> None:
        self.start()
        stop.wait()
        self._aps.shutdown(wait=True)  # lets an in-flight poll finish its enqueue
        self.log.info("scheduler_stopped")

    def poll_now(self, feed_url: str) -> PollOutcome | None:
        """Poll one feed unless another scheduler holds its lease; safe from any thread."""
        feed = self.feeds[feed_url]
        lease = self.poller.keys.feed_lease(feed_url)
        if not self.poller.client.set(lease, "1", nx=True, ex=_LEASE_S):
            return None
        try:
            return self._poll_guarded(feed)
        finally:
            self.poller.client.delete(lease)

    def _poll_guarded(self, feed: FeedLike) -> PollOutcome:
        try:
            return self.poller.poll(feed)
        except Exception as exc:  # a bug or a Redis outage must not end this feed's polling
            self.log.exception("feed_poll_crashed", feed=feed_name(feed), error=str(exc))
            return PollOutcome(0, feed.interval, "error", str(exc))

    def _job(self, feed_url: str) -> None:
        state = self.poller.state(feed_url)
        due = float(state.get("next_poll") or 0)
        now = self.clock()
        if due > now + 1:  # another scheduler polled it meanwhile: follow its timing
            self._schedule(feed_url, due - now)
            return
        outcome = self.poll_now(feed_url)
        self._schedule(feed_url, outcome.next_delay_s if outcome else _LEASE_S / 4)

    def _schedule(self, feed_url: str, delay_s: float) -> None:
        run_at = datetime.fromtimestamp(self.clock() + max(delay_s, 0.0), UTC)
        self._aps.add_job(
            self._job, "date", run_date=run_at, args=[feed_url], id=feed_url,
            replace_existing=True, max_instances=1,
        )  # fmt: skip
