"""A server's Retry-After is capped, and a delivery whose schedule is spent is dead-lettered."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Request, Response
from tests.support.site import FeedEntry, article_html, html_headers, rss
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.alerts.retry import classify, retry_delay
from worker.observability.logging import get_logger
from worker.queue.keys import Keys

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


@pytest.mark.parametrize(
    "retry_after", ["999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"], ids=["seconds", "date"]
)
def test_an_absurd_retry_after_waits_no_longer_than_the_largest_step(retry_after: str) -> None:
    outcome = classify(429, {"retry-after": retry_after}, NOW)
    assert outcome.retry_after_s is not None and outcome.retry_after_s > 1e9
    delay = retry_delay(SCHEDULE, 1, 0.0, 0.5, outcome.retry_after_s)
    assert delay == 36000.0


def test_a_configured_maximum_caps_retry_after_instead() -> None:
    assert retry_delay(SCHEDULE, 1, 0.0, 0.5, 1e12, max_retry_after_s=600.0) == 600.0
    # a Retry-After under the cap is still a floor over the schedule's step
    assert retry_delay(SCHEDULE, 1, 0.0, 0.5, 120.0, max_retry_after_s=600.0) == 120.0


def test_a_spent_schedule_is_exhausted_whatever_the_server_asks() -> None:
    assert retry_delay(SCHEDULE, len(SCHEDULE) + 1, 0.0, 0.5, 1e12) is None


def test_a_delivery_told_to_wait_31700_years_is_retried_on_schedule_then_dead_lettered(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    text = ["NATO ministers met in Brussels to discuss the agenda of the alliance."] * 4
    server.route("/a/1", Response(200, article_html("NATO story", text), html_headers()))
    feed = rss([FeedEntry("g1", "NATO story", server.url("/a/1"))])
    feed_url = server.route(
        "/feed.xml", Response(200, feed, {"Content-Type": "application/rss+xml"})
    )
    answered: list[float] = []

    def receiver(_: Request) -> Response:
        answered.append(time.monotonic())
        return Response(429, b"slow down", {"Retry-After": "999999999999"})

    delivery = {"retry_schedule": ["300ms", "300ms"], "jitter": 0.0, "concurrency": 1}
    only_nato = [{"id": "nato", "query": "NATO", "notify": ["hook"]}]
    config = write_config(
        tmp_path,
        prefix,
        [feed_url],
        server.route("/hook", receiver),
        delivery=delivery,
        watchlists=only_nato,
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 3, "exit 3: a delivery was dead-lettered in this run"
    assert len(answered) == 3, "the first try and one per step of the schedule"
    keys = Keys(prefix)
    dead = client.xrange(keys.deliveries_dead)
    assert len(dead) == 1
    assert json.loads(dead[0][1]["record"])["attempts"] == 3
    assert dead[0][1]["reason"] == "HTTP 429"
    assert client.hlen(keys.deliveries) == 0


def test_a_delivery_parked_years_away_by_an_older_version_is_brought_forward(
    client: redis.Redis, keys: Keys
) -> None:
    now = 1_800_000_000.0
    endpoint = Endpoint("hook", "http://127.0.0.1:9/hook", format="slack")
    policy = DeliveryPolicy((5.0, 60.0), timeout_s=10.0, jitter=0.1)
    notifier = Notifier(client, keys, {"hook": endpoint}, policy, get_logger(), lambda: now)
    try:
        client.zadd(keys.endpoint_due("hook"), {"parked": now + 1e12, "soon": now + 30.0})

        notifier.dispatch()

        due = dict(client.zrange(keys.endpoint_due("hook"), 0, -1, withscores=True))
        assert due == {"soon": now + 30.0, "parked": now + 60.0 * 1.1}
    finally:
        notifier.close()
