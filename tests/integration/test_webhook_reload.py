"""The notifier follows webhook edits (added, removed, changed url, secret or format), and an
alert for an endpoint it has not loaded yet waits for it instead of being dead-lettered."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from standardwebhooks.webhooks import Webhook

from tests.support.cli import start_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.roles import StderrTail, wait_until
from tests.support.site import WEBHOOK_SECRET, Receiver
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.alerts.endpoints import endpoints_applier
from worker.config import load_config
from worker.config.watch import ConfigFileWatcher, config_signature
from worker.observability.logging import get_logger
from worker.queue.keys import ALERTS_GROUP, Keys
from worker.queue.streams import StreamConsumer
from worker.roles.notifier import endpoints

OTHER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
POLICY = DeliveryPolicy((3600.0,), 5.0, 0.0)


class Clock:
    """Real time (webhook signatures carry it), which a test can move past the notifier's
    look at endpoints not configured (every 30 s) and back."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def look_at_unconfigured(self, notifier: Notifier) -> None:
        self.now += 3600
        notifier.dispatch()
        self.now = time.time()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def consumer(client: redis.Redis, keys: Keys) -> StreamConsumer:
    consumer = StreamConsumer(client, keys.alerts_stream, ALERTS_GROUP, "t", keys.deliveries_dead)
    consumer.ensure_group()
    return consumer


def alert(client: redis.Redis, keys: Keys, alert_id: str, notify: list[str]) -> None:
    data = {"alert_id": alert_id, "watchlist": {"id": "nato", "name": "NATO"}, "matches": [],
            "article": {"title": f"NATO {alert_id}", "url": "https://ex.com/a"}}  # fmt: skip
    envelope = {"type": "alert.created", "timestamp": "2026-12-01T00:00:00Z", "data": data}
    client.xadd(keys.alerts_stream, {"notify": json.dumps(notify), "body": json.dumps(envelope)})


def deliver(notifier: Notifier, consumer: StreamConsumer) -> None:
    """Take what the stream holds, send what is due, and wait for the requests."""
    assert not notifier.take_batch(consumer.read(64, None), ALERTS_GROUP)
    notifier.dispatch()
    assert notifier.wait_idle(10)


def test_an_alert_for_an_endpoint_not_loaded_yet_waits_and_goes_out_once_it_is(
    client: redis.Redis, keys: Keys, server: LocalServer, consumer: StreamConsumer, clock: Clock
) -> None:
    receiver = Receiver()
    notifier = Notifier(client, keys, {}, POLICY, get_logger(), clock)
    try:
        alert(client, keys, "al_1", ["late"])
        deliver(notifier, consumer)
        clock.look_at_unconfigured(notifier)
        assert client.xlen(keys.deliveries_dead) == 0, "never dead-lettered for that"
        assert client.hlen(keys.deliveries) == 1, "it waits"

        changes = notifier.replace_endpoints(
            {"late": Endpoint("late", server.route("/late", receiver), WEBHOOK_SECRET)}
        )
        deliver(notifier, consumer)
    finally:
        notifier.close()

    assert changes.added == ["late"]
    [request] = receiver.received
    event = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)
    assert event["data"]["alert_id"] == "al_1"
    assert client.hlen(keys.deliveries) == 0


def test_changed_url_secret_and_format_apply_and_a_removed_endpoint_keeps_its_deliveries(
    client: redis.Redis, keys: Keys, server: LocalServer, consumer: StreamConsumer, clock: Clock
) -> None:
    first, second, chat = Receiver(), Receiver(), Receiver()
    url_a, url_b = server.route("/a", first), server.route("/b", second)
    url_chat = server.route("/chat", chat)
    start = {"hook": Endpoint("hook", url_a, WEBHOOK_SECRET)}
    notifier = Notifier(client, keys, start, POLICY, get_logger(), clock)
    steps: list[Any] = []
    try:
        alert(client, keys, "al_1", ["hook"])
        deliver(notifier, consumer)
        steps.append(notifier.replace_endpoints({"hook": Endpoint("hook", url_b, OTHER_SECRET)}))
        alert(client, keys, "al_2", ["hook"])
        deliver(notifier, consumer)
        steps.append(notifier.replace_endpoints({}))
        alert(client, keys, "al_3", ["hook"])
        deliver(notifier, consumer)
        clock.look_at_unconfigured(notifier)
        waiting = client.hlen(keys.deliveries)
        steps.append(
            notifier.replace_endpoints({"hook": Endpoint("hook", url_chat, None, "discord")})
        )
        deliver(notifier, consumer)
    finally:
        notifier.close()

    assert [(s.added, s.removed, s.changed) for s in steps] == [
        ([], [], ["hook"]), ([], ["hook"], []), (["hook"], [], [])
    ]  # fmt: skip
    assert [Webhook(WEBHOOK_SECRET).verify(r.body, r.headers)["data"]["alert_id"]
            for r in first.received] == ["al_1"]  # fmt: skip
    assert [Webhook(OTHER_SECRET).verify(r.body, r.headers)["data"]["alert_id"]
            for r in second.received] == ["al_2"]  # fmt: skip
    assert waiting == 1 and client.xlen(keys.deliveries_dead) == 0
    [message] = [json.loads(r.body) for r in chat.received]
    assert message["embeds"][0]["title"] == "NATO al\\_3", (
        "rendered in the format it has now (markdown escaped)"
    )


def test_the_watcher_follows_config_edits_and_keeps_the_webhooks_on_a_broken_one(
    tmp_path: Path, client: redis.Redis, keys: Keys, server: LocalServer, prefix: str
) -> None:
    path = write_config(tmp_path, prefix, [])
    notifier = Notifier(client, keys, {}, POLICY, get_logger())
    signature = config_signature(path)
    watcher = ConfigFileWatcher(
        path, lambda: endpoints(load_config(path, os.environ)),
        endpoints_applier(notifier, get_logger(), path), get_logger(), signature, interval_s=0.05,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        config = yaml.safe_load(path.read_text())
        config["webhooks"] = [{"id": "hook", "url": server.url("/hook"), "secret": WEBHOOK_SECRET}]
        path.write_text(yaml.safe_dump(config))
        added = wait_until(lambda: "hook" in notifier.endpoints, timeout=10)
        path.write_text("webhooks: [{id: hook, url: ftp://nope}]\n")
        broken = watcher.reload()
    finally:
        stop.set()
        thread.join(5)
        notifier.close()

    assert added, "the new webhook was loaded without a restart"
    assert broken is False
    assert notifier.endpoints["hook"].url == server.url("/hook"), "the last good set stays"


def test_a_running_notifier_delivers_to_a_webhook_added_to_its_config(
    tmp_path: Path, client: redis.Redis, keys: Keys, server: LocalServer, prefix: str,
    redis_url: str,
) -> None:  # fmt: skip
    receiver = Receiver()
    path = write_config(tmp_path, prefix, [])
    notifier = StderrTail(start_cli("notifier", "--config", str(path), redis_url=redis_url))
    try:
        assert wait_until(lambda: any("notifier_started" in line for line in notifier.lines))
        alert(client, keys, "al_1", ["hook"])  # a worker's watchlist already names it
        assert wait_until(lambda: client.hlen(keys.deliveries) == 1, timeout=20)
        config = yaml.safe_load(path.read_text())
        config["webhooks"] = [
            {"id": "hook", "url": server.route("/hook", receiver), "secret": WEBHOOK_SECRET}
        ]
        path.write_text(yaml.safe_dump(config))
        delivered = wait_until(lambda: len(receiver.received) == 1, timeout=30)
    finally:
        log = notifier.stop()

    assert delivered, log[-3000:]
    assert "webhooks_reloaded" in log
    assert client.xlen(keys.deliveries_dead) == 0


def test_status_shows_an_endpoint_not_configured_with_what_waits_for_it(
    client: redis.Redis, keys: Keys, consumer: StreamConsumer, clock: Clock
) -> None:
    from worker.ops.status import collect

    notifier = Notifier(client, keys, {}, POLICY, get_logger(), clock)
    try:
        alert(client, keys, "al_1", ["late"])
        deliver(notifier, consumer)
    finally:
        notifier.close()

    report = collect(client, keys, ["hook"], POLICY.breaker)
    shown = {e["endpoint"]: (e["configured"], e["queued"]) for e in report["endpoints"]}
    assert shown == {"hook": (True, 0), "late": (False, 1)}
