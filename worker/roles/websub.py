"""The websub role: subscribe at the hubs feeds name and take their pushes.

Life cycle: `WebSubRole.build(rt)` turns the websub settings into the subscription manager, the
callbacks and the listener; `run(stop)` serves and subscribes until stopped, following edits to
the feed list; it idles when WebSub is disabled. No burst mode: pushes come when hubs send them.

Its own process type rather than a part of the scheduler: schedulers scale out (several on one
machine would fight over one port), and the listener is the one internet-facing piece, best
kept apart (its own unit or container, its own restarts). Polling never depends on it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence

from worker.config import Settings
from worker.config.models import listen_address
from worker.feeds.model import FeedLike
from worker.observability.resilience import wait_for_stop
from worker.polling.poller import FeedPoller
from worker.polling.scheduler import FeedChanges, changes_between
from worker.roles.runtime import Runtime
from worker.roles.scheduler import build_poller, follow_feed_edits
from worker.websub.callbacks import Callbacks
from worker.websub.decisions import RetryPolicy
from worker.websub.hubclient import HubClient
from worker.websub.listener import WebSubListener
from worker.websub.manager import SubscriptionManager, WebSubPolicy
from worker.websub.store import WebSubStore


def websub_policy(settings: Settings) -> WebSubPolicy:
    w = settings.websub
    return WebSubPolicy(
        public_url=w.public_url or "",
        lease_s=w.lease,
        retry=RetryPolicy(w.retry_min, w.retry_max),
        request_timeout_s=w.timeout,
    )


def hub_client(settings: Settings) -> HubClient:
    return HubClient(
        timeout_s=settings.websub.timeout,
        allow_private_addresses=settings.fetch.allow_private_addresses,
        user_agent=settings.fetch.user_agent,
    )


class WebSubRole:
    """The listener in its thread, the subscription manager in another."""

    @classmethod
    def build(cls, rt: Runtime) -> WebSubRole:
        rt.heartbeat("websub")
        return cls(rt, build_poller(rt))

    def __init__(self, rt: Runtime, poller: FeedPoller) -> None:
        self.rt = rt
        settings, log = rt.settings, rt.log
        policy = websub_policy(settings)
        store = WebSubStore(poller.client, poller.keys)
        self.log = log
        self.hubs = hub_client(settings)
        self.manager = SubscriptionManager(store, self.hubs, policy, settings.feeds, log, time.time)
        self.callbacks = callbacks = Callbacks(
            store,
            poller.intake,
            settings.feeds,
            log,
            time.time,
            lease_s=policy.lease_s,
            retry=policy.retry,
            rand=random.random,
        )
        address = listen_address(settings.websub.listen)
        self.listener = WebSubListener(address, callbacks, log, settings.websub.max_body)

    def replace_feeds(self, feeds: Sequence[FeedLike]) -> FeedChanges:
        """Follow a config edit: subscribe the added feeds' hubs, unsubscribe the removed ones
        (the manager's sweep), take pushes for the new list. One assignment each, so a step or
        a push sees the old list or the new one."""
        new = {feed.url: feed for feed in feeds}
        changes = changes_between(self.manager.feeds, new)
        self.manager.follow(new)
        self.callbacks.feeds = dict(new)
        return changes

    def run(self, stop: threading.Event) -> None:
        """Serve and subscribe until stopped, following edits to the feed list."""
        follow_feed_edits(self.rt, self, stop)
        self.listener.start()
        manager = threading.Thread(
            target=self.manager.run_until, args=(stop,), name="websub-manager", daemon=True
        )
        manager.start()
        wait_for_stop(stop)
        self.listener.stop()
        manager.join(timeout=self.manager.policy.request_timeout_s + 5)
        self.hubs.close()
        self.log.info("websub_stopped")


def idle(rt: Runtime, stop: threading.Event) -> None:
    """The websub process while WebSub is disabled: it idles, so a Procfile that lists this
    process type keeps running (Procfile runners stop everything when one process ends)."""
    rt.log.info("websub_disabled", hint="set websub.enabled and websub.public_url")
    wait_for_stop(stop)
