"""Pooled keep-alive connections: never closed under a request in flight, and a request a
stale connection dropped before answering is tried once more on a fresh one."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpcore
import pytest
import redis
import structlog

from tests.support.dropserver import DroppingServer
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.errors import FetchError
from worker.fetching import Fetcher, FetchLimits
from worker.fetching.keepalive import GuardedPool
from worker.queue.keys import ALERTS_GROUP, Keys
from worker.queue.streams import StreamConsumer

LIMITS = FetchLimits(timeout_s=5, allow_private_addresses=True)


@pytest.mark.parametrize("drop", ["close", "reset"])
def test_a_request_a_reused_connection_dropped_unanswered_is_sent_again_on_a_new_one(
    drop: str,
) -> None:
    with DroppingServer(answered=1, drop=drop) as server, Fetcher(LIMITS) as fetcher:
        first = fetcher.fetch(server.url + "/feed", trusted=True)
        second = fetcher.fetch(server.url + "/feed", trusted=True)

    assert (first.body, second.body) == (b"hello", b"hello")
    assert len(server.heads) == 3, "the dropped request, and once more"
    assert server.connections == 2


def test_a_request_the_server_had_begun_to_answer_is_not_sent_again() -> None:
    with DroppingServer(answered=1, drop="partial") as server, Fetcher(LIMITS) as fetcher:
        fetcher.fetch(server.url + "/feed", trusted=True)
        with pytest.raises(FetchError):
            fetcher.fetch(server.url + "/feed", trusted=True)

    assert len(server.heads) == 2, "part of an answer came: not tried again"


def test_a_request_on_a_new_connection_is_not_sent_again() -> None:
    with (
        DroppingServer(answered=0) as server,
        Fetcher(LIMITS) as fetcher,
        pytest.raises(FetchError, match="disconnected"),
    ):
        fetcher.fetch(server.url + "/feed", trusted=True)

    assert len(server.heads) == 1, "a fresh connection failing says something about the server"


def test_a_connection_closed_by_another_thread_while_in_use_finishes_its_request() -> None:
    """What the pool's housekeeping does from whichever thread passes by (a connection it sees
    as expired, idle or surplus): close it, outside the pool's lock, while a request is on it."""
    outcome: dict[str, Any] = {}
    timeouts = {"timeout": {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}}
    with DroppingServer(answered=10, delay_s=0.5) as server, GuardedPool() as pool:
        url = server.url + "/slow"

        def request() -> None:
            try:
                response = pool.request("GET", url, extensions=timeouts)
                outcome["status"], outcome["body"] = response.status, response.content
            except httpcore.NetworkError as exc:  # EBADF, reset: the bug
                outcome["error"] = repr(exc)

        thread = threading.Thread(target=request)
        thread.start()
        while len(server.heads) < 1:
            threading.Event().wait(0.01)
        for connection in pool.connections:
            connection.close()
        thread.join(10)
        left = pool.connections

    assert outcome == {"status": 200, "body": b"hello"}
    assert all(c.is_closed() for c in left), "closed once its response was over"


def test_a_webhook_on_a_dropped_keep_alive_connection_is_delivered_once(
    client: redis.Redis, keys: Keys
) -> None:
    with DroppingServer(answered=1) as server:
        endpoint = Endpoint("hook", server.url + "/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        policy = DeliveryPolicy((3600.0,), 5.0, 0.0)
        notifier = Notifier(client, keys, {"hook": endpoint}, policy, structlog.get_logger())
        consumer = StreamConsumer(
            client, keys.alerts_stream, ALERTS_GROUP, "t", keys.deliveries_dead
        )
        consumer.ensure_group()
        try:
            for n in range(2):  # one after the other: the second goes out on a kept-alive socket
                client.xadd(keys.alerts_stream, alert_fields(f"al_{n}"))
                notifier.take_batch(consumer.read(10, None), ALERTS_GROUP)
                notifier.dispatch()
                assert notifier.wait_idle(10)
        finally:
            notifier.close()

    heads = [
        dict(line.lower().split(b": ", 1) for line in h.split(b"\r\n")[1:]) for h in server.heads
    ]
    assert [h[b"webhook-id"] for h in heads] == [b"al_0", b"al_1", b"al_1"], "sent again at once"
    assert client.hlen(keys.deliveries) == 0, "both delivered, none waits for a retry"


def alert_fields(alert_id: str) -> dict[str, str]:
    data = {"alert_id": alert_id, "watchlist": {"id": "w", "name": "W"}, "matches": [],
            "article": {"title": "t", "url": "https://ex.com/a"}}  # fmt: skip
    body = json.dumps({"type": "alert.created", "timestamp": "2026-12-01T00:00:00Z", "data": data})
    return {"notify": json.dumps(["hook"]), "body": body}
