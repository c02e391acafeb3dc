"""Feeds, endpoints, dead letters and matching through the HTTP API, after a real run."""

from __future__ import annotations

from pathlib import Path

import redis
import yaml

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.site import Receiver, article_html, mount_seed_site
from tests.support.web import ADMIN, RunningWeb, web_settings
from worker.queue.keys import Keys

FAST_DEATH = {"retry_schedule": ["1s"], "timeout": "5s", "jitter": 0.0, "breaker_threshold": 50}


def settings_of(config: Path, redis_url: str, prefix: str, **extra: object):
    written = yaml.safe_load(config.read_text())
    written.pop("redis_prefix")
    written.pop("data_dir")
    return web_settings(redis_url, prefix, **{**written, **extra})


def test_feeds_endpoints_enable_and_dead_letter_replay(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(statuses=[410])
    hook = server.route("/hook", receiver)
    config = write_config(tmp_path, prefix, [site["feed"]], hook,
                          delivery=FAST_DEATH | {"concurrency": 1})  # fmt: skip
    once = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    assert once.returncode == 3, "exit 3: the 410 dead-lettered deliveries in this run"

    with RunningWeb(settings_of(config, redis_url, prefix)) as web:
        feeds = web.get("/api/v1/feeds").json()
        before = web.get("/api/v1/endpoints").json()
        dead = web.get("/api/v1/dead-letters").json()
        enabled = web.call("POST", "/api/v1/endpoints/hook/enable", ADMIN)
        unknown = web.call("POST", "/api/v1/endpoints/nobody/enable", ADMIN)
        replay = web.call("POST", "/api/v1/dead-letters/replay", ADMIN,
                          json={"ids": [d["id"] for d in dead] + ["items/1-0", "junk"]})  # fmt: skip
        neither = web.call("POST", "/api/v1/dead-letters/replay", ADMIN, json={})
    assert run_cli("run", "--once", "--config", str(config), redis_url=redis_url).returncode == 0

    assert [(f["name"], f["status"], f["consecutive_errors"]) for f in feeds] == [
        ("feed0", "ok", 0)
    ]
    assert [(e["endpoint"], e["health"], e["configured"]) for e in before] == [
        ("hook", "disabled", True)
    ]
    assert len(dead) == 4 and {d["kind"] for d in dead} == {"delivery"}
    assert enabled.json()["health"] == "closed"
    assert unknown.status_code == 404
    assert sorted(replay.json()["replayed"]) == sorted(d["id"] for d in dead)
    assert replay.json()["not_found"] == ["items/1-0", "junk"]
    assert neither.status_code == 422
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 4
    assert client.xlen(Keys(prefix).deliveries_dead) == 0


def test_match_a_query_or_watchlist_against_text_html_or_url(
    server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    page = article_html("NATO summit", ["Leaders met to discuss NATO expansion in the east."])
    url = server.route("/story", Response(200, page, {"content-type": "text/html"}))
    watchlists = [{"id": "nato", "query": "NATO NEAR/5 expansion"}]
    allowed = web_settings(redis_url, prefix, watchlists=watchlists,
                           fetch={"allow_private_addresses": True})  # fmt: skip
    with RunningWeb(allowed) as web:
        text = web.call("POST", "/api/v1/match",
                        json={"query": "NATO", "text": "Summit\nNATO's leaders met."})  # fmt: skip
        none = web.call("POST", "/api/v1/match",
                        json={"query": "NATO", "text": "A senator spoke."})  # fmt: skip
        by_watchlist = web.call(
            "POST", "/api/v1/match", json={"watchlist": "nato", "html": page.decode()}
        )
        by_url = web.call("POST", "/api/v1/match", json={"watchlist": "nato", "url": url})
        bad_query = web.call("POST", "/api/v1/match", json={"query": "NATO AND", "text": "x"})
        both = web.call(
            "POST", "/api/v1/match", json={"query": "a", "watchlist": "nato", "text": "a"}
        )
    with RunningWeb(web_settings(redis_url, prefix)) as guarded:
        private = guarded.call("POST", "/api/v1/match", json={"query": "NATO", "url": url})

    assert text.json() == {
        "matched": True,
        "rule": "query",
        "hits": [{"field": "body", "text": "NATO", "snippet": "NATO's leaders met."}],
    }
    assert none.json()["matched"] is False
    assert by_watchlist.json()["matched"] is True
    assert by_watchlist.json()["rule"] == "nato"
    assert by_url.json()["matched"] is True
    assert bad_query.status_code == 422 and bad_query.json()["error"] == "invalid_query"
    assert both.status_code == 422
    assert private.status_code == 422
    assert "blocked_address" in private.json()["detail"]
