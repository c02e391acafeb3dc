"""Subscribing, renewing and unsubscribing: the `websub` process's loop over due subscriptions.

Each subscription is looked at when its due time comes (store.py keeps them in a sorted set):
when its hub was found, when the renewal point of its lease is reached, when a backoff after a
failure ends, when a hub never verified a request, or when its feed left the config. A per-feed
lock lets any number of websub processes share the work. Nothing here raises out of `step`
for one feed's sake: failures are logged, recorded and retried later; polling goes on anyway.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from worker.errors import FetchError
from worker.feeds.model import FeedLike
from worker.websub.decisions import (
    ACTIVE,
    FAILED,
    SUBSCRIBING,
    UNSUBSCRIBING,
    VERIFY_TIMEOUT_S,
    Record,
    RetryPolicy,
    decide,
    hub_changed,
    number,
    retry_delay,
)
from worker.websub.hubclient import HubClient
from worker.websub.store import WebSubStore

_SWEEP_S = 60.0  # how often subscriptions of feeds no longer configured are looked for
_BATCH = 64  # due subscriptions handled per step


@dataclass(frozen=True)
class WebSubPolicy:
    public_url: str
    lease_s: float = 10 * 86400.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify_timeout_s: float = VERIFY_TIMEOUT_S
    request_timeout_s: float = 10.0


def callback_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/{token}"


def new_token() -> str:
    """The callback's path: unguessable, so a stranger cannot forge a verification."""
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_hex(32)


class SubscriptionManager:
    def __init__(
        self,
        store: WebSubStore,
        hubs: HubClient,
        policy: WebSubPolicy,
        feeds: Iterable[FeedLike],
        log: Any,
        clock: Callable[[], float],
        *,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.hubs = hubs
        self.policy = policy
        self.feeds = {feed.url: feed for feed in feeds}
        self.log = log
        self.clock = clock
        self.rand = rand
        self._next_sweep = 0.0
        self._added: set[str] = set()  # feeds a config edit brought, looked at on the next sweep
        self._added_lock = threading.Lock()  # `follow` runs in the config watcher's thread

    def follow(self, feeds: dict[str, FeedLike]) -> None:
        """Take a new feed list (a config edit): one assignment, and the next step sweeps, so
        the feeds that left are unsubscribed at once rather than within the sweep period, and
        an added feed whose hub the scheduler already recorded is subscribed at once."""
        with self._added_lock:
            self._added |= feeds.keys() - self.feeds.keys()
            self.feeds = feeds
        self._next_sweep = 0.0

    def run_until(self, stop: threading.Event, tick_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception as exc:  # Redis away: try again next tick
                self.log.exception("websub_step_failed", error=str(exc))
            stop.wait(tick_s)

    def step(self) -> int:
        """Act on every subscription now due; the number looked at."""
        now = self.clock()
        if now >= self._next_sweep:
            self._sweep(now)
            self._next_sweep = now + _SWEEP_S
        due = self.store.due(now, _BATCH)
        for feed_url in due:
            self._attend(feed_url)
        return len(due)

    def _sweep(self, now: float) -> None:
        """Subscriptions of feeds that left the config (to unsubscribe) or just came into it
        are due now."""
        with self._added_lock:
            added, self._added = self._added, set()
        for feed_url in self.store.known_feeds():
            if feed_url not in self.feeds or feed_url in added:
                self.store.look_now(feed_url, now)

    def _attend(self, feed_url: str) -> None:
        lock = self.store.lock(feed_url, self.policy.request_timeout_s + 30)
        if lock is None:
            return  # another websub process is on it
        try:
            self._act(feed_url)
        except Exception as exc:  # a bug or a Redis blip must not stop the other feeds
            self.log.exception("websub_attend_failed", feed=feed_url, error=str(exc))
            self.store.update_if(feed_url, {}, {}, due=self.clock() + self.policy.retry.first_s)
        finally:
            self.store.unlock(feed_url, lock)

    def _act(self, feed_url: str) -> None:
        record = self.store.read(feed_url)
        if not record:  # a due entry alone; unless the poller recorded the hub meanwhile
            self.store.forget(feed_url, "", {"state": ""})
            return
        action = decide(record, feed_url in self.feeds, self.clock())
        if action.kind == "wait":
            guard = {"state": record.get("state", ""), "token": record.get("token", "")}
            self.store.update_if(feed_url, guard, {}, due=action.until)
        elif action.kind == "subscribe":
            self._subscribe(feed_url, record)
        elif action.kind == "give_up":
            self._failed(feed_url, record, record.get("token", ""), "the hub never verified")
        elif action.kind == "unsubscribe":
            self._unsubscribe(feed_url, record)
        else:
            token = record.get("token", "")
            guard = {"state": record.get("state", ""), "token": token}
            if self.store.forget(feed_url, token, guard):
                self.log.info("websub_forgotten", feed=self._name(feed_url))

    # -- subscribing -----------------------------------------------------------------------
    def _subscribe(self, feed_url: str, record: Record) -> None:
        """Written as `subscribing` before the request: a hub may verify before it answers."""
        now = self.clock()
        hub, topic = record["hub"], record["topic"]
        fresh = hub_changed(record) or not record.get("token") or not record.get("secret")
        token = new_token() if fresh else record["token"]
        secret = new_secret() if fresh else record["secret"]
        if fresh:  # mapped before the record names it: a hub may verify before it answers
            self.store.map_token(token, feed_url)
        wait_until = now + self.policy.verify_timeout_s
        fields = {
            "state": SUBSCRIBING,
            "sub_hub": hub,
            "sub_topic": topic,
            "token": token,
            "secret": secret,
            "next_at": str(wait_until),
            "requested_at": str(now),
        }
        guard = {"state": record.get("state", ""), "hub": hub, "topic": topic}
        if not self.store.update_if(feed_url, guard, fields, due=wait_until):
            if fresh:  # the record still names its old token, which must still lead to it
                self.store.unmap_token(token)
            return  # changed meanwhile (a verification, a new hub): looked at again when due
        if fresh and record.get("token"):
            self.store.unmap_token(record["token"])  # its pushes get 404 from now on
        renewal = record.get("state") == ACTIVE
        self.log.info("websub_subscribing", feed=self._name(feed_url), hub=hub, renewal=renewal)
        form = {
            "hub.mode": "subscribe",
            "hub.topic": topic,
            "hub.callback": callback_url(self.policy.public_url, token),
            "hub.secret": secret,
            "hub.lease_seconds": str(int(self.policy.lease_s)),
        }
        error = self._post(hub, form, hidden=(secret, token))
        if error is not None:
            self._failed(feed_url, record, token, error)

    def _failed(self, feed_url: str, record: Record, token: str, error: str) -> None:
        now = self.clock()
        attempts = int(number(record, "attempts")) + 1
        delay = retry_delay(attempts, self.policy.retry, self.rand())
        fields = {
            "state": FAILED,
            "attempts": str(attempts),
            "last_error": error[:300],
            "failed_at": str(now),
            "next_at": str(now + delay),
        }
        if self.store.update_if(
            feed_url, {"state": SUBSCRIBING, "token": token}, fields, now + delay
        ):
            self.log.warning(
                "websub_subscribe_failed",
                feed=self._name(feed_url),
                hub=record.get("hub"),
                error=error[:300],
                attempts=attempts,
                retry_in_s=round(delay),
            )

    # -- unsubscribing -----------------------------------------------------------------------
    def _unsubscribe(self, feed_url: str, record: Record) -> None:
        now = self.clock()
        token = record["token"]
        wait_until = now + self.policy.verify_timeout_s
        fields = {"state": UNSUBSCRIBING, "next_at": str(wait_until)}
        guard = {"state": record.get("state", ""), "token": token}
        if not self.store.update_if(feed_url, guard, fields, due=wait_until):
            return
        form = {
            "hub.mode": "unsubscribe",
            "hub.topic": record.get("sub_topic", ""),
            "hub.callback": callback_url(self.policy.public_url, token),
        }
        error = self._post(record.get("sub_hub", ""), form, hidden=(token,))
        name = self._name(feed_url)
        if error is None:
            self.log.info("websub_unsubscribing", feed=name, hub=record.get("sub_hub"))
            return
        # Not retried: the lease lapses by itself, and pushes to a forgotten token get 404.
        self.log.warning("websub_unsubscribe_failed", feed=name, error=error[:300])
        self.store.forget(feed_url, token, {"state": UNSUBSCRIBING, "token": token})

    def _post(self, hub: str, form: dict[str, str], hidden: tuple[str, ...]) -> str | None:
        """None when the hub accepted the request, else why not. The form holds the secret and
        the token (`hidden`): it is never logged, and they are blanked out of the hub's reply."""
        try:
            reply = self.hubs.post(hub, form, hidden)
        except FetchError as exc:
            return f"{exc.reason}: {exc}"
        if reply.accepted:
            return None
        return f"HTTP {reply.status}: {reply.text}" if reply.text else f"HTTP {reply.status}"

    def _name(self, feed_url: str) -> str:
        feed = self.feeds.get(feed_url)
        return (feed.name or feed.url) if feed is not None else feed_url
