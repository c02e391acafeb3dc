"""The dashboard over plain HTTP (the browser tests are in tests/browser/): sign-in and its
cookie, CSRF on every change, scopes, and each page rendered from real Redis state."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.web import ADMIN, READ, WRITE, RunningWeb, add_alerts, web_settings
from worker.queue.keys import Keys


@pytest.fixture
def web(redis_url: str, prefix: str, client: redis.Redis) -> Iterator[RunningWeb]:
    settings = web_settings(
        redis_url,
        prefix,
        watchlists=[{"id": "taiwan", "name": "Taiwan", "query": "Taiwan", "notify": ["hook"]}],
        webhooks=[{"id": "hook", "url": "https://hooks.example/in", "secret": "whsec_" + "A" * 32}],
    )
    with RunningWeb(settings) as running:
        yield running


def browser(web: RunningWeb) -> httpx.Client:
    return httpx.Client(base_url=web.base, timeout=30, headers={"Accept": "text/html"})


def csrf_of(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(http: httpx.Client, token: str, next_path: str = "/ui/alerts") -> httpx.Response:
    form = http.get("/ui/signin", params={"next": next_path})
    nonce = csrf_of(form.text, "nonce")
    return http.post("/ui/signin", data={"token": token, "nonce": nonce, "next": next_path})


def test_pages_need_a_session_and_the_cookie_is_httponly_strict(web: RunningWeb) -> None:
    with browser(web) as http:
        refused = http.get("/ui/alerts?since=7d")
        fragment = http.get("/ui/alerts/rows?after=0", headers={"Accept": "*/*"})
        wrong = sign_in(http, "not-a-token-at-all-000")
        signed = sign_in(http, READ, "/ui/feeds")
        cookie = signed.headers["set-cookie"]
        feeds = http.get("/ui/feeds")

    assert refused.status_code == 303
    assert refused.headers["location"] == "/ui/signin?next=%2Fui%2Falerts%3Fsince%3D7d"
    assert fragment.status_code == 401
    assert wrong.status_code == 200 and "not valid" in wrong.text
    assert "wirewatch_session" not in " ".join(wrong.headers.get_list("set-cookie"))
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/feeds"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert READ not in cookie
    assert feeds.status_code == 200 and "<h1>Feeds</h1>" in feeds.text
    assert "default-src 'self'" in feeds.headers["content-security-policy"]


def test_sign_in_needs_its_form_nonce_and_never_follows_another_host(web: RunningWeb) -> None:
    with browser(web) as http:
        forged = http.post("/ui/signin", data={"token": READ, "nonce": "guess", "next": "/ui/"})
        away = sign_in(http, READ, "//evil.example/")
    assert forged.status_code == 403
    assert "wirewatch_session" not in " ".join(forged.headers.get_list("set-cookie"))
    assert away.status_code == 303 and away.headers["location"] == "/ui/alerts"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(web: RunningWeb) -> None:
    with browser(web) as http:
        sign_in(http, READ)
        page = http.get("/ui/alerts").text
        forged = http.post("/ui/signout", data={"csrf": "forged"})
        still = http.get("/ui/alerts")
        out = http.post("/ui/signout", data={"csrf": csrf_of(page)})
        http.cookies.clear()
        after = http.get("/ui/alerts")
    assert forged.status_code == 403
    assert still.status_code == 200
    assert out.status_code == 303 and out.headers["location"] == "/ui/signin"
    assert after.status_code == 303


def test_a_stolen_cookie_is_useless_after_sign_out(web: RunningWeb) -> None:
    with browser(web) as http:
        sign_in(http, READ)
        stolen = dict(http.cookies)
        http.post("/ui/signout", data={"csrf": csrf_of(http.get("/ui/alerts").text)})
    with browser(web) as other:
        other.cookies.update(stolen)
        replayed = other.get("/ui/alerts")
    assert replayed.status_code == 303


def test_alerts_page_rows_marks_and_the_detail_fragment(
    web: RunningWeb, client: redis.Redis, keys: Keys
) -> None:
    ids = add_alerts(client, keys, "taiwan", 3, notify=["hook"])
    add_alerts(client, keys, "other", 1, story_prefix="o_")
    with browser(web) as http:
        sign_in(http, READ)
        everything = http.get("/ui/alerts").text
        only = http.get("/ui/alerts", params={"watchlist": "taiwan"}).text
        newer = http.get("/ui/alerts/rows", params={"after": 0, "watchlist": "taiwan"}).text
        detail = http.get(f"/ui/alerts/{ids[0]}/detail").text
        odd = [http.get("/ui/alerts/rows", params={"after": v}).status_code
               for v in ("nan", "inf", "-1", "x")]  # fmt: skip

    assert everything.count('class="alert"') == 4
    assert only.count('class="alert"') == 3
    assert only.index(f'data-id="{ids[2]}"') < only.index(f'data-id="{ids[0]}"'), "newest first"
    assert "<mark>taiwan</mark>" in only
    assert newer.count('class="alert"') == 3
    assert "hook" in detail and "queued" in detail
    assert odd == [422, 422, 422, 422]


def _json_post(http: httpx.Client, path: str, csrf: str | None, body: dict[str, Any]) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return http.post(path, json=body, headers=headers)


def test_the_editor_checks_the_query_and_saving_needs_write(web: RunningWeb) -> None:
    with browser(web) as reader, browser(web) as writer:
        sign_in(reader, READ)
        sign_in(writer, WRITE)
        csrf = csrf_of(writer.get("/ui/watchlists/new").text)
        no_csrf = _json_post(writer, "/ui/api/parse", None, {"query": "a AND"})
        broken = _json_post(writer, "/ui/api/parse", csrf, {"query": "chips AND (export"}).json()
        fine = _json_post(writer, "/ui/api/parse", csrf, {"query": "chips AND export"}).json()
        reader_csrf = csrf_of(reader.get("/ui/watchlists/new").text)
        refused = reader.post(
            "/ui/watchlists/save",
            data={"csrf": reader_csrf, "is_new": "1", "id": "chips", "query": "chips"},
        )
        bad = writer.post(
            "/ui/watchlists/save",
            data={"csrf": csrf, "is_new": "1", "id": "chips", "query": "chips AND ("},
        )
        saved = writer.post(
            "/ui/watchlists/save",
            data={"csrf": csrf, "is_new": "1", "id": "chips", "query": "chips", "notify": "hook"},
        )
        config_one = writer.get("/ui/watchlists/taiwan/edit").text
        listing = writer.get("/ui/watchlists").text

    assert no_csrf.status_code == 403
    assert broken["ok"] is False and broken["position"] == len("chips AND ")
    assert broken["caret"].endswith("^")
    assert fine == {"ok": True}
    assert refused.status_code == 200 and "may not save" in refused.text
    assert bad.status_code == 200 and "save-error" in bad.text
    assert (
        saved.status_code == 303
        and saved.headers["location"] == "/ui/watchlists/chips/edit?saved=1"
    )
    assert web.get("/api/v1/watchlists/chips").json()["notify"] == ["hook"]
    assert "edit it there" in config_one and 'id="save"' not in config_one
    assert "chips" in listing and "<polyline" in listing


def test_delivery_actions_need_admin_and_feeds_and_spikes_render(web: RunningWeb) -> None:
    with browser(web) as reader, browser(web) as admin:
        sign_in(reader, READ)
        sign_in(admin, ADMIN)
        reader_page = reader.get("/ui/delivery").text
        refused = reader.post(
            "/ui/delivery/replay", data={"csrf": csrf_of(reader_page), "all": "1"}
        )
        page = admin.get("/ui/delivery").text
        replayed = admin.post("/ui/delivery/replay", data={"csrf": csrf_of(page), "all": "1"})
        done = admin.get(replayed.headers["location"]).text
        spikes = admin.get("/ui/spikes").text
        static = admin.get("/ui/static/app.js")

    assert "needs a token with the admin scope" in reader_page
    assert refused.status_code == 403
    assert "hook" in page
    assert "Replayed 0 dead letter(s)." in done
    assert "No watchlist has spike alerts on" in spikes
    assert static.status_code == 200 and "wirewatch dashboard" in static.text


def test_spikes_page_draws_the_baseline_band_and_marks_a_spike(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    from tests.support.archive import article
    from worker.archive.store import open_archive

    spike = {"bucket": "1h", "min_stories": 3, "sensitivity": 0.001}
    settings = web_settings(
        redis_url,
        prefix,
        watchlists=[{"id": "quakes", "name": "Quakes", "query": "quake", "spike": spike}],
    )
    now = time.time()
    hour = int(now // 3600) * 3600
    rows, n = [], 0
    for back in range(1, 72):  # three days of one story an hour, then a burst of ten now
        rows.append(article(n, hour - back * 3600 + 60, story=f"s{n}", watchlists=("quakes",)))
        n += 1
    for _ in range(10):
        rows.append(article(n, hour + 1, story=f"s{n}", watchlists=("quakes",)))
        n += 1
    store = open_archive(settings.archive, settings.data_dir)
    try:
        store.add(rows)
    finally:
        store.close()
    with RunningWeb(settings) as web, browser(web) as http:
        sign_in(http, READ)
        spikes = http.get("/ui/spikes").text

    assert '<polygon class="band"' in spikes
    assert spikes.count('class="spiked"') == 1, "the burst, and only it, is a spike"
    assert "1 spike bucket(s) shown" in spikes


def test_a_session_ends_when_its_token_leaves_the_config(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    with RunningWeb(web_settings(redis_url, prefix)) as web, browser(web) as http:
        sign_in(http, READ)
        cookie = http.cookies["wirewatch_session"]

    def page_with(tokens: list[dict[str, str]] | None) -> int:
        sections = {"web": {"tokens": tokens}} if tokens else {}
        with RunningWeb(web_settings(redis_url, prefix, **sections)) as web, browser(web) as http:
            http.cookies.set("wirewatch_session", cookie)
            return http.get("/ui/alerts").status_code

    same_config = page_with(None)
    rotated = page_with([{"id": "reader", "token": "another-read-token-0123", "scope": "read"}])
    assert same_config == 200, "a restart with the same tokens keeps the session"
    assert rotated == 303, "the rotated token's old session still worked"
