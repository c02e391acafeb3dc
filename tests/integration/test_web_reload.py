"""The web role follows edits to its config file like every other role: an added feed shows on
the dashboard and in the API, a rotated token stops working at once (its dashboard sessions end)
and its new value works, and a change that needs a restart is logged as such."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.integration.test_dashboard import csrf_of, sign_in
from tests.support.cli import start_cli, write_config
from tests.support.roles import StderrTail, free_port, wait_until
from tests.support.web import ADMIN, READ, TOKENS
from worker.config import Settings
from worker.errors import ConfigError
from worker.observability.logging import get_logger
from worker.queue.keys import Keys
from worker.roles.web import config_applier
from worker.web.context import WebContext

ROTATED = "rotated-read-token-0123456789"
FIRST_FEED = "https://news.example/first.xml"
ADDED_FEED = "https://news.example/added.xml"


class WebProcess:
    """`wirewatch web --config <file>` and the file, which the test edits."""

    def __init__(self, tmp_path: Path, prefix: str, redis_url: str, workers: int = 1) -> None:
        self.port = free_port()
        web = {
            "enabled": True,
            "listen": f"127.0.0.1:{self.port}",
            "tokens": TOKENS,
            "workers": workers,
            # the old value is tried many times on purpose: no 429 may hide a process's answer
            "auth_failures_per_minute": 1_000_000,
        }
        hook = {"id": "hook", "url": "https://hooks.example/in", "secret": "whsec_" + "A" * 32}
        self.path = write_config(tmp_path, prefix, [FIRST_FEED], web=web, webhooks=[hook])
        self.base = f"http://127.0.0.1:{self.port}"
        self.role = StderrTail(start_cli("web", "--config", str(self.path), redis_url=redis_url))

    def edit(self, change: Any) -> None:
        config = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        change(config)
        self.path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def status(self, path: str, token: str) -> int:
        try:
            return self.get(path, token).status_code
        except httpx.TransportError:
            return 0

    def logged(self, *words: str) -> bool:
        return any(all(w in line for w in words) for line in list(self.role.lines))


@pytest.fixture
def web(tmp_path: Path, prefix: str, redis_url: str) -> Iterator[WebProcess]:
    running = WebProcess(tmp_path, prefix, redis_url)
    try:
        assert wait_until(lambda: running.status("/healthz", READ) == 200, timeout=60), "no start"
        yield running
    finally:
        logs = running.role.stop()
        assert not [t for t in (READ, ADMIN, ROTATED) if t in logs], "a token was logged"


def test_every_web_worker_process_takes_a_rotated_token(
    tmp_path: Path, prefix: str, redis_url: str
) -> None:
    """With `web.workers: 2` the requests go to two processes: both must refuse the old value."""
    web = WebProcess(tmp_path, prefix, redis_url, workers=2)
    try:
        assert wait_until(lambda: web.status("/healthz", READ) == 200, timeout=60), "no start"
        web.edit(rotate_reader)
        assert wait_until(lambda: web.status("/api/v1/feeds", ROTATED) == 200, timeout=60)

        # new connections each time: the kernel spreads them over both processes' accepts
        def answers() -> set[int]:
            return {web.status("/api/v1/feeds", READ) for _ in range(40)}

        assert wait_until(lambda: answers() == {401}, timeout=60), answers()
    finally:
        web.role.stop()


def feed_urls(web: WebProcess) -> list[str]:
    answer = web.get("/api/v1/feeds", ADMIN)
    return [row["url"] for row in answer.json()] if answer.status_code == 200 else []


def rotate_reader(config: dict[str, Any]) -> None:
    for token in config["web"]["tokens"]:
        if token["id"] == "reader":
            token["token"] = ROTATED


def test_an_added_feed_and_a_rotated_token_apply_without_a_restart(web: WebProcess) -> None:
    with httpx.Client(base_url=web.base, timeout=30, headers={"Accept": "text/html"}) as http:
        assert sign_in(http, READ).status_code == 303
        before = http.get("/ui/feeds")
        assert before.status_code == 200 and ADDED_FEED not in before.text
        assert feed_urls(web) == [FIRST_FEED]

        web.edit(lambda c: c["feeds"].append({"url": ADDED_FEED, "name": "added"}))
        assert wait_until(lambda: ADDED_FEED in feed_urls(web), timeout=60), "feed not applied"
        assert ADDED_FEED in http.get("/ui/feeds").text  # the session lives on

        web.edit(rotate_reader)
        assert wait_until(lambda: web.status("/api/v1/feeds", READ) == 401, timeout=60)
        assert web.status("/api/v1/feeds", ROTATED) == 200
        signed_out = http.get("/ui/feeds")  # the session of the old token ended with it
        assert signed_out.status_code == 303 and "/ui/signin" in signed_out.headers["location"]
        assert sign_in(http, READ).status_code == 200  # the old value is refused at sign-in
        assert sign_in(http, ROTATED).status_code == 303
        assert http.get("/ui/feeds").status_code == 200


def test_watchlists_and_endpoints_follow_and_restart_settings_are_named(web: WebProcess) -> None:
    added = {"id": "harvest", "name": "Harvest", "query": "harvest", "notify": ["second"]}
    second = {"id": "second", "url": "https://hooks.example/two", "secret": "whsec_" + "B" * 32}

    def edit(config: dict[str, Any]) -> None:
        config["watchlists"].append(added)
        config["webhooks"].append(second)
        config["web"]["alert_max"] = 5000  # read once at start: needs a restart

    web.edit(edit)

    def endpoints() -> list[str]:
        answer = web.get("/api/v1/endpoints", ADMIN)
        rows = answer.json() if answer.status_code == 200 else []
        return sorted(row["endpoint"] for row in rows if row["configured"])

    assert wait_until(lambda: endpoints() == ["hook", "second"], timeout=60), endpoints()
    assert web.get("/api/v1/watchlists/harvest", READ).json()["source"] == "config"
    with httpx.Client(base_url=web.base, timeout=30, headers={"Accept": "text/html"}) as http:
        sign_in(http, ADMIN)
        editor = http.get("/ui/watchlists/harvest/edit")
        assert editor.status_code == 200 and "harvest" in editor.text
        assert csrf_of(editor.text)
    needs_restart = ("config_reload_needs_restart", '["web.alert_max"]')
    assert wait_until(lambda: web.logged(*needs_restart), timeout=30), web.role.lines


def test_emptying_the_tokens_of_an_exposed_listener_is_refused_whole(
    client: redis.Redis, prefix: str
) -> None:
    exposed = {"listen": "0.0.0.0:8080"}
    running = Settings.model_validate(
        {"redis_prefix": prefix, "web": {**exposed, "tokens": TOKENS}}
    )
    ctx = WebContext.build(running, client, Keys(prefix), get_logger())
    apply = config_applier(ctx, get_logger(), None)
    emptied = Settings.model_validate(
        {"redis_prefix": prefix, "feeds": [{"url": ADDED_FEED}], "web": {**exposed, "tokens": []}}
    )

    with pytest.raises(ConfigError, match=r"web\.tokens"):
        apply(emptied)

    assert not ctx.auth.open and ctx.settings is running  # nothing of that edit applied
    assert ctx.auth.identify(READ, "127.0.0.1") == ("reader", "read")
