"""Hostile feeds are bounded: entities are never expanded, no queued item is larger than
`max_item_bytes` (its text trimmed, the trim recorded), a poll queues at most `max_new_items`
new entries (newest first; the rest on later polls)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import redis

from tests.support.cli import run_cli, write_config
from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Response
from worker.config import load_config
from worker.feeds.newitems import fit_item
from worker.feeds.parse import FeedParseError, parse_feed
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.keys import Keys
from worker.records import FeedItem

URL = "https://news.example/feed"
RSS = {"Content-Type": "application/rss+xml"}


def entity_feed(references: int, entity_chars: int = 290) -> bytes:
    """Issue 11's feed: one internal entity referenced many times in one description."""
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "'
        + b"A" * entity_chars
        + b'">\n]>\n<rss version="2.0"><channel><title>T</title><item><guid>g</guid>'
        + b"<title>x</title><description>"
        + b"&a;" * references
        + b"</description></item></channel></rss>"
    )


def rss(items: str) -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'
    ).encode()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=30, allow_private_addresses=True)) as f:
        yield f


def poller(client: redis.Redis, keys: Keys, fetcher: Fetcher, **limits: int) -> FeedPoller:
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600, seen_retention_s=86400, **limits)
    return FeedPoller(client, keys, fetcher, policy, get_logger(), lambda: 1_800_000_000.0)


def queued(client: redis.Redis, keys: Keys) -> list[dict]:
    return [json.loads(f["item"]) for _, f in client.xrange(keys.items_stream)]


# --- entities are never expanded -------------------------------------------------------------


def test_an_internal_entity_is_refused_not_expanded() -> None:
    with pytest.raises(FeedParseError, match="entity 'a' declared"):
        parse_feed(entity_feed(1000), url=URL, content_type="application/rss+xml")


def test_a_poll_of_the_entity_feed_queues_nothing_and_says_why(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/feed", Response(200, entity_feed(300_000), RSS))
    outcome = poller(client, keys, fetcher).poll(Feed(url))
    assert outcome.status == "error"
    assert "entity 'a' declared (entities are never expanded)" in outcome.error
    assert client.xlen(keys.items_stream) == 0


_PARSE_PEAK = """
import json, sys
from worker.feeds.parse import FeedParseError, parse_feed, to_feed_item
from worker.feeds.newitems import fit_item
body = sys.stdin.buffer.read()
def status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # restart the high-water mark here
before = status("VmRSS")
try:
    feed = parse_feed(body, url="https://news.example/feed", content_type="application/rss+xml")
    sizes = [len(fit_item(to_feed_item(e, "u", "n", []), 1_000_000).to_json()) for e in feed.entries]
except FeedParseError:
    sizes = []
print(json.dumps({"growth": status("VmHWM") - before, "sizes": sizes}))
"""


def undeclared_feed(references: int, per_reference: bytes = b"") -> bytes:
    """References to an entity no DTD declares: not well-formed, so the lenient parser's."""
    return rss(
        "<item><guid>g</guid><title>x</title><description>"
        + ("&a;" + per_reference.decode()) * references
        + "</description></item>"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(
    "body",
    [entity_feed(1_000_000), undeclared_feed(1_000_000), rss(f"<item>{'<b/>' * 750_000}</item>")],
    ids=["internal entity", "undeclared references", "tags"],
)
def test_parsing_a_hostile_feed_uses_less_than_20_times_its_size(body: bytes) -> None:
    """In a fresh interpreter, parsing (and fitting what it gives) a 3 MB hostile feed: before,
    expat expanded the entity about 100 times (290 MB of text), and the lenient parser spent
    about 190 bytes on each undeclared reference (60 times the body)."""
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_PEAK], input=body, capture_output=True, check=True
    )
    report = json.loads(done.stdout)
    assert report["growth"] < 20 * len(body)
    assert all(size <= 1_000_000 for size in report["sizes"])


def test_a_flood_of_undeclared_references_is_refused() -> None:
    with pytest.raises(FeedParseError, match="references to undeclared entities"):
        parse_feed(undeclared_feed(300_000), url=URL, content_type=None)


def test_a_flood_of_tags_is_refused() -> None:
    with pytest.raises(FeedParseError, match="tags in a body of"):
        parse_feed(rss(f"<item>{'<b/>' * 200_000}</item>"), url=URL, content_type=None)


def test_a_feed_with_a_few_html_entities_still_parses() -> None:
    """`&nbsp;` without a DTD is not XML, but feeds have it: a reference every 60 bytes or so,
    12,000 of them, is still read (leniently)."""
    body = rss(
        "<item><guid>g</guid><title>x</title><description>"
        + "caf&eacute;&nbsp;society, and some more words around them, as a paragraph of a"
        " real article has around its two odd entities. " * 6_000 + "</description></item>"
    )
    (entry,) = parse_feed(body, url=URL, content_type=None).entries
    assert "café\xa0society" in entry.summary


# --- no queued item over max_item_bytes --------------------------------------------------------


def test_a_long_item_is_trimmed_to_fit_and_the_trim_recorded() -> None:
    text = 'Ünïcödé "quoted" \\ text\n\x01 ' * 200_000  # JSON escapes make it larger still
    item = FeedItem(URL, "News", "g", title="t", summary=text, content=text, tags=["a"])
    fitted = fit_item(item, 1_000_000)
    assert len(fitted.to_json().encode()) <= 1_000_000
    assert fitted.trimmed == {"content": len(text), "summary": len(text)}
    # content goes first (it is the longest usually); the summary keeps what fits, a prefix
    assert fitted.content == ""
    assert fitted.summary == text[: len(fitted.summary)] and len(fitted.summary) > 100_000
    assert (fitted.title, fitted.tags, fitted.entry_id) == ("t", ["a"], "g")
    assert FeedItem.from_json(fitted.to_json()) == fitted


def test_a_short_item_is_left_alone() -> None:
    item = FeedItem(URL, "News", "g", title="t", summary="s" * 1000)
    assert fit_item(item, 10_000) is item


def test_a_poll_queues_no_item_larger_than_the_cap(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    long_text = "word " * 500_000  # 2.5 MB of plain text in one description
    body = rss(
        f"<item><guid>g1</guid><title>Long</title><description>{long_text}</description></item>"
    )
    url = server.route("/feed", Response(200, body, RSS))
    assert poller(client, keys, fetcher, max_item_bytes=200_000).poll(Feed(url)).new_items == 1
    (raw,) = [f["item"] for _, f in client.xrange(keys.items_stream)]
    assert len(raw.encode()) <= 200_000
    item = json.loads(raw)
    assert item["trimmed"] == {"summary": len(long_text.strip())}
    assert item["title"] == "Long"


# --- at most max_new_items per poll, newest first ------------------------------------------------


def dated_items(count: int) -> str:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return "".join(
        f"<item><guid>urn:n:{n}</guid><title>n{n}</title>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate></item>"
        for n in range(count)
    )


def test_a_huge_feed_is_queued_newest_first_a_bounded_number_per_poll(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/feed", Response(200, rss(dated_items(450)), {**RSS, "ETag": '"v1"'}))
    feed, polls = Feed(url), poller(client, keys, fetcher, max_new_items=200)

    firsts = [polls.poll(feed).new_items for _ in range(4)]

    assert firsts == [200, 200, 50, 0]
    numbers = [int(item["entry_id"].rsplit(":", 1)[1]) for item in queued(client, keys)]
    assert sorted(numbers[:200]) == list(range(250, 450)), "the newest 200 first"
    assert sorted(numbers[200:400]) == list(range(50, 250))
    assert sorted(numbers) == list(range(450)), "every entry once, none twice"
    assert polls.state(url).get("deferred_items", "") == ""


def test_a_poll_that_left_items_says_how_many_and_parses_whole_next_time(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/feed", Response(200, rss(dated_items(30)), {**RSS, "ETag": '"v1"'}))
    polls = poller(client, keys, fetcher, max_new_items=10)
    polls.poll(Feed(url))
    state = polls.state(url)
    assert state["deferred_items"] == "20"
    assert state.get("etag", "") == "" and state.get("body_hash", "") == ""


def test_wirewatch_feeds_tells_how_many_items_wait_for_later_polls(
    tmp_path: Path,
    server: LocalServer,
    client: redis.Redis,
    keys: Keys,
    prefix: str,
    redis_url: str,
    fetcher: Fetcher,
) -> None:
    url = server.route("/feed", Response(200, rss(dated_items(30)), RSS))
    config = write_config(tmp_path, prefix, [url], scheduler={"max_new_items": 10})
    settings = load_config(config, {"REDIS_URL": redis_url})
    assert settings.scheduler.max_new_items == 10
    polls = poller(client, keys, fetcher, max_new_items=settings.scheduler.max_new_items)
    assert polls.poll(settings.feeds[0]).new_items == 10

    table = run_cli("feeds", "--config", str(config), redis_url=redis_url)

    assert table.returncode == 0, table.stderr
    assert "feed0: 20 new items left for later polls" in table.stdout
