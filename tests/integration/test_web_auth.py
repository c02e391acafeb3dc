"""The web role's bearer tokens over real HTTP: every auth case, and the refusal to start
reachable from other machines with no token."""

from __future__ import annotations

import pytest
import redis

from tests.support.cli import run_cli, write_config
from tests.support.web import ADMIN, READ, WRITE, RunningWeb, web_settings
from worker.errors import ConfigError
from worker.observability.logging import get_logger
from worker.queue.keys import Keys
from worker.roles.web import check_exposure
from worker.web.context import WebContext

WATCHLIST = {"id": "ukraine", "name": "Ukraine", "query": "Ukraine"}


def test_no_token_and_a_wrong_token_get_401_as_json(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        missing = web.get("/api/v1/watchlists", token=None)
        wrong = web.get("/api/v1/watchlists", token="not-a-token-at-all-0000")
        malformed = web.http.get("/api/v1/watchlists", headers={"Authorization": READ})

    for response in (missing, wrong, malformed):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"error", "detail"}
    assert "not-a-token-at-all" not in wrong.text


def test_scopes_allow_read_write_admin_in_order(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        read_list = web.get("/api/v1/watchlists", token=READ)
        read_create = web.call("POST", "/api/v1/watchlists", token=READ, json=WATCHLIST)
        write_create = web.call("POST", "/api/v1/watchlists", token=WRITE, json=WATCHLIST)
        write_replay = web.call("POST", "/api/v1/dead-letters/replay", token=WRITE,
                                json={"all": True})  # fmt: skip
        admin_replay = web.call("POST", "/api/v1/dead-letters/replay", token=ADMIN,
                                json={"all": True})  # fmt: skip

    assert read_list.status_code == 200
    assert read_create.status_code == 403
    assert read_create.json()["error"] == "forbidden"
    assert write_create.status_code == 201
    assert write_replay.status_code == 403
    assert admin_replay.status_code == 200
    assert admin_replay.json() == {"replayed": [], "not_found": []}


def test_failed_attempts_are_limited_per_address_even_for_a_good_token_after(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    settings = web_settings(redis_url, prefix, web={"auth_failures_per_minute": 3})
    with RunningWeb(settings) as web:
        failures = [
            web.get("/api/v1/alerts", token=f"guess-{i:020d}").status_code for i in range(3)
        ]
        limited = web.get("/api/v1/alerts", token=READ)
        health = web.get("/healthz", token=None)

    assert failures == [401, 401, 401]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "too_many_failures"
    assert health.status_code == 200


def test_with_no_token_on_loopback_every_call_is_allowed(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    settings = web_settings(redis_url, prefix, web={"tokens": []})
    with RunningWeb(settings) as web:
        created = web.call("POST", "/api/v1/watchlists", token=None, json=WATCHLIST)

    assert created.status_code == 201


def test_refuses_to_listen_off_loopback_without_a_token(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    settings = web_settings(redis_url, prefix, web={"tokens": [], "listen": "0.0.0.0:18080"})
    ctx = WebContext.build(settings, client, Keys(prefix), get_logger())

    with pytest.raises(ConfigError) as caught:
        check_exposure(ctx)

    assert "web.tokens is empty" in str(caught.value)


def test_cli_web_role_exits_2_with_the_reason_when_exposed_without_a_token(
    tmp_path, redis_url: str, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [], web={"enabled": True, "listen": "0.0.0.0:18081"})

    result = run_cli("web", "--config", str(config), redis_url=redis_url, timeout=60)

    assert result.returncode == 2
    assert "web.tokens is empty" in result.stderr
