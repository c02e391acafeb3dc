"""The dashboard in a real Chromium (Debian's /usr/bin/chromium driven by Playwright), against
the real roles as `wirewatch` processes on a real Redis, a local feed server and webhook
receivers: sign in; a broken query shows its error inline; the fixed one its back-test counts;
save; a new matching item appears on the alerts page without a reload; enable an endpoint and
replay a dead letter; sign out and be refused. Any console error fails the test. Each page's
screenshot goes to tests/artifacts/ (ignored by git), at 1,280 px and at a phone's width."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from tests.support.cli import start_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.roles import StderrTail, free_port, wait_until
from tests.support.site import WEBHOOK_SECRET, FeedEntry, Receiver, article_html, html_headers, rss
from tests.support.web import ADMIN, TOKENS

CHROMIUM = Path(os.environ.get("WIREWATCH_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT_MS = 60_000
ROLES = ("web", "scheduler", "worker", "notifier", "archiver")


def require_browser() -> Any:
    """Playwright's sync API, with Chromium at CHROMIUM; in CI ($WIREWATCH_REQUIRE_CORPUS) a
    missing browser fails the run instead of skipping it (.ci/run installs it)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium; or $WIREWATCH_CHROMIUM)"
    if problem is not None:
        if os.environ.get("WIREWATCH_REQUIRE_CORPUS"):
            pytest.fail(problem)
        pytest.skip(problem)
    return sync_playwright


def mount_articles(server: LocalServer, name: str, stories: list[tuple[str, str]]) -> str:
    entries = []
    for slug, sentence in stories:
        # Words of its own in every paragraph: no two stories are near-duplicates.
        paragraphs = [sentence] + [
            " ".join(f"{slug}{i}x{j}" for j in range(12)) + "." for i in range(4)
        ]
        server.route(
            f"/{name}/{slug}", Response(200, article_html(sentence, paragraphs), html_headers())
        )
        entries.append(FeedEntry(f"{name}-{slug}", sentence, server.url(f"/{name}/{slug}")))
    return server.route(
        f"/{name}.xml", Response(200, rss(entries), {"Content-Type": "application/rss+xml"})
    )


class Setup:
    """The config file, the roles, and an API client to wait on them."""

    def __init__(self, tmp_path: Path, server: LocalServer, prefix: str, redis_url: str) -> None:
        self.server = server
        self.redis_url = redis_url
        self.hook, self.gone = Receiver(), Receiver(statuses=[410])
        self.port = free_port()
        self.first_feed = mount_articles(
            server,
            "a",
            [
                ("strait-drills", "Taiwan reported drills in the strait on Monday."),
                ("harvest", "The harvest was good this year in the valley."),
            ],
        )
        self.tmp_path, self.prefix = tmp_path, prefix
        self.config = self.write([self.first_feed])
        self.api = httpx.Client(
            base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        self.roles: list[StderrTail] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, feeds: list[str]) -> Path:
        web = {"enabled": True, "listen": f"127.0.0.1:{self.port}", "tokens": TOKENS}
        hooks = [
            {"id": "hook", "url": self.server.route("/hook", self.hook), "secret": WEBHOOK_SECRET},
            {"id": "gone", "url": self.server.route("/gone", self.gone), "secret": WEBHOOK_SECRET},
        ]
        watchlists = [
            {
                "id": "harvest",
                "name": "Harvest",
                "query": "harvest",
                "notify": ["gone"],
                "spike": {"bucket": "1h", "min_stories": 2},
            }
        ]
        return write_config(
            self.tmp_path, self.prefix, feeds, None, web=web, webhooks=hooks, watchlists=watchlists
        )

    def add_feed(self, feed: str) -> None:
        """An edit of the config file: the scheduler follows it and polls the new feed."""
        config = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        config["feeds"].append({"url": feed, "name": "second", "interval": "5m"})
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def start(self) -> None:
        for role in ROLES:
            process = start_cli(role, "--config", str(self.config), redis_url=self.redis_url)
            self.roles.append(StderrTail(process))

    def up(self) -> bool:
        try:
            return self.api.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def archived(self) -> int:
        answer = self.api.post("/api/v1/backtest", json={"query": "Taiwan OR harvest"})
        return int(answer.json().get("articles", 0)) if answer.status_code == 200 else 0

    def dead_letters(self) -> list[dict[str, Any]]:
        answer = self.api.get("/api/v1/dead-letters")
        return list(answer.json()) if answer.status_code == 200 else []

    def stop(self) -> str:
        logs = "".join(role.stop() for role in self.roles)
        self.api.close()
        return logs


@pytest.fixture
def setup(
    tmp_path: Path, server: LocalServer, prefix: str, redis_url: str, client: redis.Redis
) -> Iterator[Setup]:
    running = Setup(tmp_path, server, prefix, redis_url)
    running.start()
    try:
        yield running
    finally:
        logs = running.stop()
        assert not [t["token"] for t in TOKENS if t["token"] in logs], "a token was logged"


class Browser:
    """One page in Chromium; collects console errors; saves screenshots by name."""

    def __init__(self, playwright: Any, base: str) -> None:
        self.browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        self.context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        ARTIFACTS.mkdir(exist_ok=True)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        self.browser.close()


@pytest.fixture
def sync_playwright() -> Any:
    """Checked before the roles start, so a skip costs nothing."""
    return require_browser()


def test_dashboard_in_chromium_end_to_end(sync_playwright: Any, setup: Setup) -> None:
    assert wait_until(setup.up, timeout=60), "the web role did not start"
    assert wait_until(lambda: setup.archived() == 2, timeout=90), "articles not archived"
    assert wait_until(lambda: len(setup.dead_letters()) == 1, timeout=60), "no dead letter"

    with sync_playwright() as playwright:
        browser = Browser(playwright, setup.base)
        try:
            _walk_through(browser, setup)
        finally:
            browser.close()

    assert browser.errors == [], browser.errors


def _walk_through(b: Browser, setup: Setup) -> None:
    page = b.page
    # Not signed in: the alerts page sends us to the sign-in form, which brings us back.
    b.go("/ui/alerts")
    assert "/ui/signin" in page.url
    assert page.evaluate("document.activeElement.id") == "token"  # focused on arrival
    page.fill("#token", "not-the-token-0123456789")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text("#signin-error")
    b.shot("01-signin-refused")
    page.fill("#token", ADMIN)
    page.keyboard.press("Enter")  # by keyboard
    page.wait_for_url("**/ui/alerts")
    page.wait_for_selector("li.alert")
    assert "harvest" in page.inner_text("#alerts").lower()
    page.keyboard.press("Tab")  # the keyboard's first stop skips the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    b.shot("02-alerts")

    _edit_and_save(b)
    _new_alert_arrives_without_reload(b, setup)
    _feeds_and_spikes(b)
    _delivery(b, setup)
    _phone_width(b)

    # Sign out; the pages and the live rows are refused afterwards.
    b.go("/ui/alerts")
    page.click(".signout button")
    page.wait_for_url("**/ui/signin")
    b.go("/ui/watchlists")
    assert "/ui/signin" in page.url
    rows = page.request.get(setup.base + "/ui/alerts/rows?after=0")
    assert rows.status == 401
    b.shot("10-signed-out")


def _edit_and_save(b: Browser) -> None:
    page = b.page
    b.go("/ui/watchlists/new")
    page.fill("#w-id", "strait")
    page.click("#w-query")
    page.keyboard.type("Taiwan AND (drills OR", delay=20)
    error = page.wait_for_selector("#query-error")
    assert "Position" in error.inner_text()
    assert page.get_attribute("#w-query", "aria-invalid") == "true"
    assert page.inner_text("pre.caret").splitlines()[-1].strip() == "^"
    b.shot("03-editor-syntax-error")

    page.keyboard.type(" exercise)", delay=20)
    counts = page.wait_for_selector("#bt-counts")
    assert counts.inner_text().startswith("1 matching article, 1 story")
    assert page.inner_text(".samples mark").lower() in ("taiwan", "drills")
    assert page.query_selector("svg.chart rect") is not None
    b.shot("04-editor-backtest")

    page.check("input[name=notify][value=hook]")
    page.click("#save")
    page.wait_for_url("**/ui/watchlists/strait/edit?saved=1")
    assert page.inner_text("p.ok") == "Saved."
    diff = page.wait_for_selector("#bt-diff")  # the back-test against the saved version
    assert "0 stories gained, 0 lost" in diff.inner_text()
    b.shot("05-editor-saved")

    b.go("/ui/watchlists")
    assert page.query_selector("a[href='/ui/watchlists/strait/edit']") is not None
    assert page.query_selector("svg.spark polyline") is not None
    b.shot("06-watchlists")


def _new_alert_arrives_without_reload(b: Browser, setup: Setup) -> None:
    page = b.page
    b.go("/ui/alerts")
    page.wait_for_selector("li.alert")
    assert "Taiwan" not in page.inner_text("#alerts"), "the first article alerted on nothing"
    page.evaluate("window.__stayed = 'same page'")
    second = mount_articles(
        setup.server, "b", [("fresh-drills", "Taiwan began fresh drills near Kinmen island.")]
    )
    setup.add_feed(second)
    fresh = page.wait_for_selector("li.alert.fresh:has-text('fresh drills')", timeout=90_000)
    assert page.evaluate("window.__stayed") == "same page", "the page was reloaded"
    assert "<mark>" in fresh.inner_html()
    fresh.query_selector("summary").click()
    page.wait_for_selector("li.alert.fresh .detail table")
    assert wait_until(lambda: len(setup.hook.received) == 1, timeout=60)
    b.shot("07-alerts-live")


def _feeds_and_spikes(b: Browser) -> None:
    page = b.page
    b.go("/ui/feeds")
    assert page.locator("tbody tr").count() == 1  # the web role's own config: one feed
    assert page.inner_text("tbody .state") in ("ok", "stale")
    assert page.inner_text("td.items .num") == "2", "its two archived articles, per day"
    assert page.locator("td.items svg rect").count() == 7
    b.shot("08-feeds")
    b.go("/ui/spikes")
    assert page.query_selector("svg.chart polyline.line") is not None
    b.shot("08-spikes")


def _delivery(b: Browser, setup: Setup) -> None:
    page = b.page
    b.go("/ui/delivery")
    assert "disabled" in page.inner_text("table").lower() or "gone" in page.inner_text("table")
    b.shot("09-delivery-before")
    page.click("form[action='/ui/delivery/endpoints/gone/enable'] button")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "Endpoint gone enabled."
    page.click("button.replay-one")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "Replayed 1 dead letter(s)."
    assert "No dead letters." in page.inner_text("main")
    b.shot("09-delivery-replayed")
    assert wait_until(lambda: len(setup.gone.received) == 2, timeout=60), "not re-sent"


def _phone_width(b: Browser) -> None:
    page = b.page
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/ui/alerts", "11-phone-alerts"), ("/ui/watchlists/strait/edit",
                                                            "12-phone-editor")):  # fmt: skip
        b.go(path)
        page.wait_for_load_state("networkidle")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{path} scrolls sideways at a phone's width ({wide}px)"
        b.shot(name)
    page.set_viewport_size({"width": 1280, "height": 900})
