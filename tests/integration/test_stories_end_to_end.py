"""One story, one alert: copies of a story from three feeds alert once and count 3 articles."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from standardwebhooks.webhooks import Webhook

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.site import (
    WEBHOOK_SECRET,
    FeedEntry,
    Receiver,
    article_html,
    html_headers,
    rss,
    seed_article,
)

OTHER_NATO_STORY = [
    "NATO defence ministers agreed on Thursday to expand the alliance's air policing mission over the Baltic states.",
    "The decision follows months of talks in Brussels about rotating fighter squadrons from member countries.",
    "Officials said the first aircraft would arrive in Lithuania before the end of the year.",
] * 3


def feed(server: LocalServer, path: str, entries: list[FeedEntry]) -> str:
    return server.route(path, Response(200, rss(entries), {"Content-Type": "application/rss+xml"}))


def mount_three_copies(server: LocalServer) -> list[str]:
    title, paragraphs = seed_article()
    port = server.port
    original = f"http://127.0.0.1:{port}/world/putin-xi"
    server.route(
        "/world/putin-xi",
        Response(200, article_html(title, paragraphs, canonical=original), html_headers()),
    )
    # The mobile site: another host name, the same text.
    server.route(
        "/m/world/putin-xi", Response(200, article_html(title, paragraphs), html_headers())
    )
    # A syndicated copy: a new headline, the story inside other boilerplate, a note added.
    syndicated = [
        "Reporting by our partners at Action News.",
        *paragraphs,
        "Editor's note: updated with reaction.",
    ]
    server.route(
        "/wire/0204-summit",
        Response(200, article_html("Russia and China leaders meet", syndicated), html_headers()),
    )
    server.route(
        "/world/air-policing",
        Response(200, article_html("NATO expands air policing", OTHER_NATO_STORY), html_headers()),
    )
    return [
        feed(
            server,
            "/one.xml",
            [FeedEntry("1", title, original + "?utm_source=rss&utm_medium=feed")],
        ),
        feed(
            server,
            "/two.xml",
            [FeedEntry("m1", title, f"http://localhost:{port}/m/world/putin-xi")],
        ),
        feed(
            server,
            "/three.xml",
            [
                FeedEntry("w1", "Russia and China leaders meet", server.url("/wire/0204-summit")),
                FeedEntry("w2", "NATO expands air policing", server.url("/world/air-policing")),
            ],
        ),
    ]


def test_copies_of_one_story_alert_once_per_watchlist_and_count_as_one_story(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feeds = mount_three_copies(server)
    receiver = Receiver()
    config = write_config(
        tmp_path, prefix, feeds, server.route("/hook", receiver), dedupe={"story_updated_after": 1}
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    events = [Webhook(WEBHOOK_SECRET).verify(r.body, r.headers) for r in receiver.received]
    created = [e for e in events if e["type"] == "alert.created"]
    by_watchlist = sorted(e["data"]["watchlist"]["id"] for e in created)
    assert by_watchlist == ["nato", "nato", "olympics", "taiwan"], (
        "the copies alerted once; the other NATO story too"
    )
    seed_story = {
        e["data"]["story"]["id"] for e in created if e["data"]["watchlist"]["id"] == "taiwan"
    }
    nato_stories = {
        e["data"]["story"]["id"] for e in created if e["data"]["watchlist"]["id"] == "nato"
    }
    assert len(nato_stories) == 2 and seed_story < nato_stories

    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    processed = [e for e in logs if e["event"] == "item_processed" and e["story"] in seed_story]
    assert len(processed) == 3
    assert max(e["story_articles"] for e in processed) == 3
    # However the three copies interleave, each watchlist ends up told the story's full size:
    # by its alert, or by a story.updated event (story_updated_after: 1) once copies joined.
    told: dict[str, int] = {}
    for event in events:
        data = event["data"]
        if data["story"]["id"] in seed_story:
            watchlist = data["watchlist"]["id"]
            told[watchlist] = max(told.get(watchlist, 0), data["story"]["articles"])
    assert told == {"nato": 3, "olympics": 3, "taiwan": 3}
    updates = [e for e in events if e["type"] == "story.updated"]
    assert all(u["data"]["event_id"].startswith("su_") for u in updates)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received)


def test_rules_see_the_article_fields_site_feed_author_and_language() -> None:
    from worker.pipeline.process import rule_document
    from worker.records import Article
    from worker.rules import Matcher

    article = Article(
        url="https://www.bbc.co.uk/news/world-1?at_medium=rss",
        canonical_url="https://www.bbc.co.uk/news/world-1",
        title="Summit",
        text="Leaders met.",
        author="Jane Roe",
        language="en",
        site="bbc.co.uk",
        feed_name="BBC World",
        feed_tags=["uk", "world"],
    )
    rules = {
        "site": "site:bbc.co.uk AND Leaders",
        "www": "site:www.bbc.co.uk AND Leaders",
        "feed": "feed:uk AND Leaders",
        "author": "author:Roe AND Leaders",
        "lang": "lang:en AND Leaders",
        "not_lang": "lang:fr AND Leaders",
    }
    matched = Matcher.compile(rules.items()).match(rule_document(article))
    assert sorted(matched) == ["author", "feed", "lang", "site", "www"]


def test_an_edited_item_is_neither_a_new_story_nor_a_new_alert(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    from worker.queue.keys import Keys

    title, paragraphs = seed_article()
    server.route("/story", Response(200, article_html(title, paragraphs), html_headers()))
    link = server.url("/story")
    first = rss([FeedEntry("guid-1", title, link, "first version")])
    edited = rss([FeedEntry("guid-1", title + " (updated)", link, "second version, with changes")])
    served = {"body": first}
    server.route(
        "/feed.xml",
        lambda _: Response(200, served["body"], {"Content-Type": "application/rss+xml"}),
    )
    receiver = Receiver()
    config = write_config(
        tmp_path, prefix, [server.url("/feed.xml")], server.route("/hook", receiver)
    )

    assert run_cli("run", "--once", "--config", str(config), redis_url=redis_url).returncode == 0
    alerts_before = len(receiver.received)
    served["body"] = edited
    again = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert again.returncode == 0, again.stderr
    assert alerts_before == 3
    assert len(receiver.received) == alerts_before
    events = [json.loads(line) for line in again.stderr.splitlines() if line.startswith("{")]
    [summary] = [e for e in events if e["event"] == "run_once_finished"]
    assert summary["items_processed"] == 0, "the edited entry was not queued again"
    assert client.xlen(Keys(prefix).items_stream) == 0, "what every group acked is trimmed"
