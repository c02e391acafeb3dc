"""A story's articles through the API: the one that alerted and the copies that joined it."""

from __future__ import annotations

from pathlib import Path

import redis

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.roles import wait_until
from tests.support.site import FeedEntry, article_html, html_headers, rss
from tests.support.web import RunningWeb, web_settings
from worker.queue.keys import Keys

PARAGRAPHS = [
    "Taiwan's coast guard reported twelve vessels near the island on Monday morning.",
    "Officials in Taipei said the ships left the area before noon without incident.",
    "Analysts in the region called the move a routine show of presence in the strait.",
] * 2


def test_a_story_lists_the_article_that_alerted_and_the_copies_that_joined_it(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    page = article_html("Vessels near Taiwan", PARAGRAPHS)
    feeds = []
    for name in ("wire", "paper"):  # one wire story, run by two outlets
        link = server.route(f"/{name}/vessels", Response(200, page, html_headers()))
        entry = FeedEntry(f"{name}-1", "Vessels near Taiwan", link)
        body = rss([entry], title=name)
        feeds.append(
            server.route(
                f"/{name}.xml", Response(200, body, {"Content-Type": "application/rss+xml"})
            )
        )
    config = write_config(tmp_path, prefix, feeds, worker={"concurrency": 1})
    assert run_cli("run", "--once", "--config", str(config), redis_url=redis_url).returncode == 0

    keys = Keys(prefix)
    with RunningWeb(web_settings(redis_url, prefix)) as web:
        assert wait_until(lambda: client.zcard(keys.web_alert_order) == 1, timeout=30)
        (alert,) = web.get("/api/v1/alerts").json()["alerts"]
        story = web.get(f"/api/v1/stories/{alert['story']['id']}").json()

    assert alert["watchlist"]["id"] == "taiwan"
    assert sorted(a["url"] for a in story["articles"]) == sorted(
        server.url(f"/{name}/vessels") for name in ("wire", "paper")
    )
    assert story["sources"] == ["feed0", "feed1"]
