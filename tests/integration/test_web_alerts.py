"""Alerts through the HTTP API: cursor paging, filters, retention, detail with deliveries,
stories, and the Atom and JSON alert feeds."""

from __future__ import annotations

import json
import time

import feedparser
import redis

from tests.support.httpserver import LocalServer
from tests.support.roles import wait_until
from tests.support.site import WEBHOOK_SECRET, Receiver
from tests.support.web import WRITE, RunningWeb, add_alerts, web_settings
from worker.alerts.breaker import BreakerPolicy
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.alerts.index import AlertIndex
from worker.observability.logging import get_logger
from worker.queue.keys import ALERTS_GROUP, Keys
from worker.queue.streams import StreamConsumer
from worker.roles.notifier import take_alerts


def indexed(client: redis.Redis, keys: Keys, count: int) -> bool:
    return client.zcard(keys.web_alert_order) >= count


def all_pages(web: RunningWeb, limit: int, **params: str) -> list[dict]:
    alerts: list[dict] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = web.get("/api/v1/alerts", params=query).json()
        alerts += page["alerts"]
        cursor = page["next_cursor"]
        if cursor is None:
            return alerts


def test_cursor_paging_over_1000_alerts_has_no_gap_or_repeat(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    keys = Keys(prefix)
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        first = add_alerts(client, keys, "nato", 600)
        second = add_alerts(client, keys, "taiwan", 400)
        assert wait_until(lambda: indexed(client, keys, 1000), timeout=30)

        seen = all_pages(web, limit=37)
        taiwan = all_pages(web, limit=50, watchlist="taiwan")

    ids = [a["alert_id"] for a in seen]
    assert len(ids) == 1000
    assert len(set(ids)) == 1000
    assert ids == list(reversed(first + second)), "newest first, in stream order"
    assert [a["alert_id"] for a in taiwan] == list(reversed(second))


def test_since_and_until_bound_the_page(redis_url: str, prefix: str, client: redis.Redis) -> None:
    keys = Keys(prefix)
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        older = add_alerts(client, keys, "nato", 5)
        time.sleep(0.05)
        middle = time.time()
        time.sleep(0.05)
        newer = add_alerts(client, keys, "nato", 5, story_prefix="st_new_")
        assert wait_until(lambda: indexed(client, keys, 10), timeout=30)

        after = web.get("/api/v1/alerts", params={"since": str(middle)}).json()["alerts"]
        before = web.get("/api/v1/alerts", params={"until": str(middle)}).json()["alerts"]
        bad_cursor = web.get("/api/v1/alerts", params={"cursor": "nonsense"})

    assert [a["alert_id"] for a in after] == list(reversed(newer))
    assert [a["alert_id"] for a in before] == list(reversed(older))
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"] == "invalid_cursor"


def test_retention_and_the_bound_trim_the_oldest(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    keys = Keys(prefix)
    index = AlertIndex(client, keys, retention_s=3600, max_alerts=100)
    add_alerts(client, keys, "nato", 150)  # indexed as a notifier takes them

    trimmed_to_bound = index.trim()
    index.clock = lambda: time.time() + 7200  # two hours on: all past the retention
    trimmed_by_age = index.trim()

    assert trimmed_to_bound == 50
    assert trimmed_by_age == 100
    assert client.hlen(keys.web_alerts) == 0
    assert client.zcard(keys.web_watchlist_order("nato")) == 0


def test_alert_detail_shows_each_endpoint_delivery(
    redis_url: str, prefix: str, client: redis.Redis, server: LocalServer
) -> None:
    keys = Keys(prefix)
    receiver = Receiver(statuses=[500])
    url = server.route("/hook", receiver)
    ok_url = server.route("/ok", Receiver())
    endpoints = {
        "hook": Endpoint("hook", url, WEBHOOK_SECRET),
        "ok": Endpoint("ok", ok_url, WEBHOOK_SECRET),
    }
    policy = DeliveryPolicy((60.0,), 5.0, 0.0, 1, BreakerPolicy(5, 30.0, 60.0))
    notifier = Notifier(client, keys, endpoints, policy, get_logger())
    consumer = StreamConsumer(client, keys.alerts_stream, ALERTS_GROUP, "n", keys.deliveries_dead)
    consumer.ensure_group()
    hooks = [
        {"id": i, "url": u, "secret": WEBHOOK_SECRET} for i, u in (("hook", url), ("ok", ok_url))
    ]
    settings = web_settings(redis_url, prefix, webhooks=hooks)
    with RunningWeb(settings) as web:
        (alert_id,) = add_alerts(client, keys, "nato", 1, notify=["hook", "ok"])
        take_alerts(notifier, consumer, AlertIndex(client, keys, 3600, 1000), None)
        notifier.dispatch()
        notifier.wait_idle(30)
        assert wait_until(lambda: indexed(client, keys, 1), timeout=30)

        detail = web.get(f"/api/v1/alerts/{alert_id}").json()
        missing = web.get("/api/v1/alerts/al_nothing")
    notifier.close()

    assert detail["alert"]["alert_id"] == alert_id
    delivery, delivered = detail["deliveries"]
    assert (delivered["endpoint"], delivered["state"], delivered["attempts"]) == (
        "ok",
        "delivered",
        1,
    )
    assert delivered["results"] == ["delivered"] and delivered["next_try_at"] is None
    assert delivery["endpoint"] == "hook"
    assert delivery["state"] == "retrying"
    assert delivery["attempts"] == 1
    assert delivery["results"] and "500" in delivery["results"][0]
    assert delivery["next_try_at"] > time.time() + 30
    assert missing.status_code == 404


def test_story_lists_the_articles_alerts_carried(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    keys = Keys(prefix)
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        add_alerts(client, keys, "nato", 1, story_prefix="st_shared")
        add_alerts(client, keys, "taiwan", 1, story_prefix="st_shared")
        assert wait_until(lambda: indexed(client, keys, 2), timeout=30)

        story = web.get("/api/v1/stories/st_shared0").json()
        unknown = web.get("/api/v1/stories/st_unknown")

    assert story["id"] == "st_shared0"
    assert sorted(a["url"] for a in story["articles"]) == [
        "https://news.example/nato/0",
        "https://news.example/taiwan/0",
    ]
    assert story["sources"] == ["Example News"]
    assert unknown.status_code == 404


def test_atom_and_json_feeds_open_with_the_watchlist_key_only(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    keys = Keys(prefix)
    settings = web_settings(redis_url, prefix, watchlists=[{"id": "nato", "query": "NATO"}])
    with RunningWeb(settings) as web:
        ids = add_alerts(client, keys, "nato", 120)
        assert wait_until(lambda: indexed(client, keys, 120), timeout=30)
        links = web.get("/api/v1/watchlists/nato/feed").json()
        atom = web.get(links["atom"], token=None)
        feed_json = web.get(links["json_feed"], token=None)
        wrong = web.get("/feeds/nato.atom?key=wrong", token=None)
        rotated = web.call("POST", "/api/v1/watchlists/nato/feed/rotate", WRITE).json()
        old_key = web.get(links["atom"], token=None)
        new_key = web.get(rotated["atom"], token=None)

    assert atom.status_code == 200
    assert atom.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo
    assert len(parsed.entries) == 100
    assert parsed.entries[0].id == f"urn:wirewatch:alert:{ids[-1]}"
    assert parsed.entries[0].link == "https://news.example/nato/119"
    body = json.loads(feed_json.content)
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert [i["id"] for i in body["items"]] == list(reversed(ids))[:100]
    assert wrong.status_code == 404
    assert old_key.status_code == 404
    assert new_key.status_code == 200
