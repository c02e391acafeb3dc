"""A smoke test of the dashboard in Firefox: Debian's firefox-esr, driven over WebDriver BiDi by
puppeteer-core (tests/browser/firefox/walk.mjs; no geckodriver, no downloaded browser), against
the web role on a real Redis with stored alerts and a small archive. Sign in (a wrong token is
refused first); alerts, with a story opened; watchlists; the editor, where a broken query shows
its error inline and the fixed one its back-test; feeds, delivery, spikes; sign out and be
refused. No console error and no page error. Each page's screenshot goes to
tests/artifacts/firefox-*.png, and what the driver saw (with its timings) to
tests/artifacts/firefox-walk.json. The full walk through the roles is the Chromium test's.

Setup: `apt-get install firefox-esr` and
`(cd tests/browser/firefox && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)`; without either this test
skips with the reason, except when WIREWATCH_REQUIRE_CORPUS is set (as in CI), where it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.archive import article
from tests.support.web import ADMIN, RunningWeb, add_alerts, web_settings
from worker.archive.store import open_archive
from worker.queue.keys import Keys

FIREFOX = Path(os.environ.get("WIREWATCH_FIREFOX", "/usr/bin/firefox-esr"))
DRIVER = Path(__file__).resolve().parent / "firefox"
WALK = DRIVER / "walk.mjs"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WALK_TIMEOUT_S = 600  # the whole walk, on a loaded box; each step waits 60 s at most
HOOK_SECRET = "whsec_" + "F" * 32


def require_firefox() -> str:
    """The path of `node`, when Firefox, node and the driver's node_modules are all there; in CI
    ($WIREWATCH_REQUIRE_CORPUS) a missing one fails the run instead of skipping it (.ci/run
    installs them)."""
    node = shutil.which("node")
    problem = None
    if not FIREFOX.exists():
        problem = f"no Firefox at {FIREFOX} (apt-get install firefox-esr; or $WIREWATCH_FIREFOX)"
    elif node is None:
        problem = "no node on PATH (apt-get install nodejs npm)"
    elif not (DRIVER / "node_modules" / "puppeteer-core").is_dir():
        problem = (
            f"puppeteer-core is not installed: (cd {DRIVER} && PUPPETEER_SKIP_DOWNLOAD=1 npm ci)"
        )
    if problem is not None:
        if os.environ.get("WIREWATCH_REQUIRE_CORPUS"):
            pytest.fail(problem)
        pytest.skip(problem)
    assert node is not None
    return node


@pytest.fixture
def node() -> str:
    """Checked before the web role starts, so a skip costs nothing."""
    return require_firefox()


def store_archive(settings: Any) -> None:
    """Two Taiwan articles for the editor's back-test, and three days of one `quakes` story an
    hour, then a burst of ten, for the spikes page."""
    now = time.time()
    hour = int(now // 3600) * 3600
    rows = [
        article(0, now - 3600, title="Taiwan reported drills in the strait", story="st_t0"),
        article(1, now - 7200, title="Taiwan markets closed for the holiday", story="st_t1"),
    ]
    for back in range(1, 72):
        rows.append(article(len(rows), hour - back * 3600 + 60, watchlists=("quakes",)))
    for _ in range(10):
        rows.append(article(len(rows), hour + 1, watchlists=("quakes",)))
    store = open_archive(settings.archive, settings.data_dir)
    try:
        store.add(rows)
    finally:
        store.close()


@pytest.fixture
def web(node: str, redis_url: str, prefix: str, client: redis.Redis) -> Iterator[RunningWeb]:
    spike = {"bucket": "1h", "min_stories": 3, "sensitivity": 0.001}
    settings = web_settings(
        redis_url,
        prefix,
        feeds=[{"url": "https://news.example/feed.xml", "name": "Example News"}],
        webhooks=[{"id": "hook", "url": "https://hooks.example/in", "secret": HOOK_SECRET}],
        watchlists=[
            {"id": "taiwan", "name": "Taiwan", "query": "Taiwan", "notify": ["hook"]},
            {"id": "quakes", "name": "Quakes", "query": "quake", "spike": spike},
        ],
    )
    store_archive(settings)
    add_alerts(client, Keys(prefix), "taiwan", 3, notify=["hook"])
    with RunningWeb(settings) as running:
        yield running


def walk(node: str, base: str) -> dict[str, Any]:
    """Runs the driver; what it saw, from its one JSON line."""
    ARTIFACTS.mkdir(exist_ok=True)  # for firefox-walk.json even if the driver never started
    for old in ARTIFACTS.glob("firefox-*.png"):
        old.unlink()  # a screenshot seen below is this run's
    done = subprocess.run(
        [node, str(WALK), base, str(ARTIFACTS)],
        check=False,  # its JSON line says what failed better than the exit status
        cwd=DRIVER,
        capture_output=True,
        text=True,
        timeout=WALK_TIMEOUT_S,
        env={**os.environ, "FIREFOX": str(FIREFOX), "WIREWATCH_TOKEN": ADMIN},  # not in `ps`
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"the driver printed nothing (exit {done.returncode}): {done.stderr[-3000:]}"
    seen: dict[str, Any] = json.loads(lines[-1])
    (ARTIFACTS / "firefox-walk.json").write_text(json.dumps(seen, indent=1), encoding="utf-8")
    assert "failed" not in seen, f"{seen['failed']}\nseen: {seen['steps']}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, done.stderr[-3000:]
    return seen


def test_dashboard_in_firefox_smoke(node: str, web: RunningWeb) -> None:
    seen = walk(node, web.base)
    steps = seen["steps"]

    assert seen["browser"].lower().startswith("firefox"), seen["browser"]
    signin = steps["signin"]
    assert signin["redirected_to"] == "/ui/signin"
    assert "not valid" in signin["refused"]
    assert signin["landed_on"] == "/ui/alerts"

    alerts = steps["alerts"]
    assert alerts["rows"] == 3
    assert "taiwan" in alerts["first"].lower()
    detail = alerts["detail"]  # the opened row: its delivery to `hook`, then its story
    assert detail.startswith("Deliveries") and "hook" in detail and "queued" in detail, detail

    listing = steps["watchlists"]
    assert sorted(listing["edit_links"]) == ["quakes", "taiwan"]
    assert listing["sparklines"] == 2

    editor = steps["editor"]
    assert editor["error"].startswith("Position "), editor
    assert editor["invalid"] == "true"
    assert editor["caret"].splitlines()[-1].strip() == "^"
    assert editor["fixed"] == "The query parses."
    assert editor["invalid_after"] is None and editor["error_after"] is False
    assert editor["counts"].startswith("1 matching article, 1 story"), editor["counts"]
    assert editor["bars"] == 7

    assert any("Example News" in row for row in steps["feeds"]["rows"]), steps["feeds"]
    assert "hook" in steps["delivery"]["main"]
    assert steps["spikes"] == {"heading": "Spikes", "lines": 1, "bands": 1, "spiked": 1}

    signout = steps["signout"]
    assert signout["after_signout"] == "/ui/signin"
    assert signout["watchlists_now"] == "/ui/signin"
    assert signout["rows_status"] == 401

    assert seen["errors"] == [], seen["errors"]
    shots = sorted(Path(p).name for p in seen["shots"])
    assert len(shots) == 9 and all((ARTIFACTS / name).stat().st_size > 0 for name in shots)
