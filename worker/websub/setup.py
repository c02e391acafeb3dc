"""Settings -> the WebSub objects, and the `websub` role's run loop (worker/service.py calls it).

Its own process type rather than a part of the scheduler: schedulers scale out (several on one
machine would fight over one port), and the listener is the one internet-facing piece, best
kept apart (its own unit or container, its own restarts). Polling never depends on it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from typing import Any

from worker.config import Settings
from worker.config.models import listen_address
from worker.feeds.model import FeedLike
from worker.observability.resilience import wait_for_stop
from worker.polling.poller import FeedPoller
from worker.polling.scheduler import FeedChanges, changes_between
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.websub.callbacks import Callbacks
from worker.websub.decisions import RetryPolicy
from worker.websub.discovery import HubRecorder
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


def hub_recorder(client: Client, keys: Keys, log: Any) -> HubRecorder:
    """The poller's discovery hook (set only when WebSub is enabled)."""
    return HubRecorder(WebSubStore(client, keys), log, time.time)


class WebSubRole:
    """The listener in its thread, the subscription manager in another."""

    def __init__(self, settings: Settings, poller: FeedPoller, log: Any) -> None:
        policy = websub_policy(settings)
        store = WebSubStore(poller.client, poller.keys)
        self.log = log
        self.hubs = hub_client(settings)
        self.manager = SubscriptionManager(store, self.hubs, policy, settings.feeds, log, time.time)
        self.callbacks = callbacks = Callbacks(
            store,
            poller,
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

    def run_until(self, stop: threading.Event) -> None:
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
