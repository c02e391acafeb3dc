"""Watchlists through the HTTP API: create, replace, delete, versions, config ones read-only,
the 422 with position and caret, publishing to workers, and `wirewatch watchlists export`."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml

from tests.support.cli import run_cli, write_config
from tests.support.web import WRITE, RunningWeb, web_settings
from worker.errors import QueryError
from worker.observability.logging import get_logger
from worker.pipeline.watchlists import SharedWatchlists
from worker.queue.keys import Keys
from worker.rules import parse_query

CONFIG_WATCHLISTS = [{"id": "nato", "name": "NATO", "query": "NATO"}]


def settings_for(redis_url: str, prefix: str):
    return web_settings(redis_url, prefix, watchlists=CONFIG_WATCHLISTS)


def test_create_replace_delete_keep_every_version(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        created = web.call("POST", "/api/v1/watchlists", WRITE,
                           json={"id": "taiwan", "query": "Taiwan"})  # fmt: skip
        again = web.call("POST", "/api/v1/watchlists", WRITE,
                         json={"id": "taiwan", "query": "Taiwan"})  # fmt: skip
        replaced = web.call("PUT", "/api/v1/watchlists/taiwan", WRITE,
                            json={"name": "Taiwan strait", "query": "Taiwan AND strait"})  # fmt: skip
        listed = web.get("/api/v1/watchlists").json()
        deleted = web.call("DELETE", "/api/v1/watchlists/taiwan", WRITE)
        gone = web.get("/api/v1/watchlists/taiwan")
        versions = web.get("/api/v1/watchlists/taiwan/versions").json()

    assert created.status_code == 201
    assert created.json()["version"] == 1
    assert created.json()["source"] == "api"
    assert again.status_code == 409
    assert replaced.json()["version"] == 2
    assert {(w["id"], w["source"]) for w in listed} == {("nato", "config"), ("taiwan", "api")}
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert [(v["version"], v["query"], v["deleted"]) for v in versions] == [
        (1, "Taiwan", False),
        (2, "Taiwan AND strait", False),
        (3, "Taiwan AND strait", True),
    ]


def test_config_watchlists_are_read_only_409(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        shown = web.get("/api/v1/watchlists/nato").json()
        posted = web.call("POST", "/api/v1/watchlists", WRITE, json={"id": "nato", "query": "x"})
        put = web.call("PUT", "/api/v1/watchlists/nato", WRITE, json={"query": "x"})
        deleted = web.call("DELETE", "/api/v1/watchlists/nato", WRITE)

    assert shown["source"] == "config"
    assert [r.status_code for r in (posted, put, deleted)] == [409, 409, 409]
    assert all(r.json()["error"] == "read_only" for r in (posted, put, deleted))


def test_a_query_that_does_not_parse_gets_422_with_position_and_caret(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        response = web.call("POST", "/api/v1/watchlists", WRITE,
                            json={"id": "bad", "query": "NATO AND (Baltic"})  # fmt: skip
        listed = web.get("/api/v1/watchlists").json()

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_query"
    detail = body["detail"]
    with pytest.raises(QueryError) as cli_error:  # what `wirewatch match --query` prints
        parse_query("NATO AND (Baltic")
    assert detail["position"] == cli_error.value.position == 9
    assert detail["caret"] == " " * 9 + "^"
    assert detail["text"] == str(cli_error.value)
    assert detail["text"].endswith("NATO AND (Baltic\n  " + " " * 9 + "^")
    assert [w["id"] for w in listed] == ["nato"], "nothing was stored"


def test_a_running_worker_takes_an_api_watchlist_at_its_next_check(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    """A worker looks at the published version at most a second apart (by its own clock, here
    a fake one): the API's change is in force at its next look, well within 2 s."""
    now = [1000.0]
    worker_view = SharedWatchlists(client, Keys(prefix), get_logger(), clock=lambda: now[0])
    worker_view.publish([])  # a worker started with no config watchlists
    before = set(worker_view.current().table)
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        web.call("POST", "/api/v1/watchlists", WRITE, json={"id": "taiwan", "query": "Taiwan"})
        not_yet = set(worker_view.current().table)  # within the second: the set it holds
        now[0] += 1.0
        after = set(worker_view.current().table)

    assert before == not_yet == set()
    assert after == {"taiwan"}


def test_a_worker_publishing_its_config_keeps_the_api_watchlists(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        web.call("POST", "/api/v1/watchlists", WRITE, json={"id": "taiwan", "query": "Taiwan"})
    restarted_worker = SharedWatchlists(client, Keys(prefix), get_logger())

    restarted_worker.publish(settings_for(redis_url, prefix).watchlists)

    assert set(restarted_worker.current().table) == {"nato", "taiwan"}


def test_export_writes_the_api_watchlists_as_yaml(
    tmp_path: Path, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(settings_for(redis_url, prefix)) as web:
        web.call("POST", "/api/v1/watchlists", WRITE,
                 json={"id": "taiwan", "name": "Taiwan", "query": "Taiwan -Olympics"})  # fmt: skip
    config = write_config(tmp_path, prefix, [])
    out = tmp_path / "exported.yaml"

    result = run_cli("watchlists", "export", "--config", str(config), "--output", str(out),
                     redis_url=redis_url)  # fmt: skip

    assert result.returncode == 0, result.stderr
    exported = yaml.safe_load(out.read_text())
    assert exported == {
        "watchlists": [
            {"id": "taiwan", "name": "Taiwan", "query": "Taiwan -Olympics", "notify": []}
        ]
    }
