"""Entry identity from the GUID text alone: an isPermaLink="false" GUID is never joined to
xml:base or the feed's URL, so `xml:base` anywhere in a body no longer changes identities; and
an upgrade queues nothing twice from a seen-entry index written by the rule before."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from feedparser.urls import _urljoin as feedparser_urljoin

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Response
from worker.feeds.parse import parse_feed
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.keys import Keys, short_hash

RSS = {"Content-Type": "application/rss+xml"}


def rss(items: str, channel_attrs: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel{channel_attrs}><title>T</title>'
        f"{items}</channel></rss>"
    ).encode()


def item(guid: str, permalink: bool = False, description: str = "") -> str:
    flag = "" if permalink else ' isPermaLink="false"'
    return (
        f"<item><guid{flag}>{guid}</guid><title>{guid}</title>"
        f"<description>{description}</description></item>"
    )


URL = "http://news.example/feeds/world.xml"
PLAIN = rss(item("post-1") + item("post-2"))
# the same items, and another whose text happens to hold the bytes "xml:base"
WITH_XML_BASE_TEXT = rss(
    item("post-1") + item("post-2") + item("post-3", description="see xml:base in the spec")
)


def ids(body: bytes, url: str = URL) -> list[str]:
    return [e.entry_id for e in parse_feed(body, url=url, content_type=None).entries]


def test_a_non_permalink_guid_is_its_text() -> None:
    assert ids(PLAIN) == ["post-1", "post-2"]


def test_xml_base_bytes_elsewhere_in_the_body_change_no_identity() -> None:
    assert ids(WITH_XML_BASE_TEXT)[:2] == ids(PLAIN)


def test_a_structural_xml_base_does_not_join_a_non_permalink_guid_either() -> None:
    body = rss(item("post-1"), channel_attrs=' xml:base="http://cdn.example/base/"')
    assert ids(body) == ["post-1"]


def test_a_relative_permalink_guid_is_still_a_url_resolved_like_a_link() -> None:
    assert ids(rss(item("story/7", permalink=True))) == ["http://news.example/feeds/story/7"]


def test_a_hostile_long_guid_is_hashed() -> None:
    (identity,) = ids(rss(item("x" * 5000)))
    assert identity.startswith("sha256:") and len(identity) == len("sha256:") + 64


# --- the upgrade: a seen-entry index written by the rule before --------------------------------


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=10, allow_private_addresses=True)) as f:
        yield f


def old_rule_member(feed_url: str, guid: str, body_has_xml_base: bool) -> str:
    """The seen-set member the code before this change wrote: without the bytes `xml:base` in
    the body, every relative id was joined to the feed's URL (feedparser's own joining)."""
    identity = guid if body_has_xml_base else feedparser_urljoin(feed_url, guid)
    return f"{short_hash(feed_url)}:{short_hash(identity)}"


@pytest.mark.parametrize("body", [PLAIN, WITH_XML_BASE_TEXT], ids=["plain", "xml:base text"])
def test_after_the_upgrade_the_same_feed_queues_nothing(
    body: bytes, server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/feeds/world.xml", Response(200, body, RSS))
    guids = ["post-1", "post-2", "post-3"][: body.count(b"<item>")]
    written_before = {old_rule_member(url, g, b"xml:base" in body): 1.0 for g in guids}
    client.zadd(keys.seen_entries, written_before)
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600, seen_retention_s=86400 * 365)
    poller = FeedPoller(client, keys, fetcher, policy, get_logger(), lambda: 1_800_000_000.0)

    outcome = poller.poll(Feed(url))

    assert outcome.new_items == 0
    assert client.xlen(keys.items_stream) == 0
    # the entries are now seen under their new identities, in the feed's own seen set
    new_members = [short_hash(g) for g in guids]
    assert all(score is not None for score in client.zmscore(keys.feed_seen(url), new_members))


def test_after_the_upgrade_a_new_entry_is_still_queued(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    url = server.route("/feeds/world.xml", Response(200, WITH_XML_BASE_TEXT, RSS))
    client.zadd(keys.seen_entries, {old_rule_member(url, "post-1", False): 1.0})
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600, seen_retention_s=86400 * 365)
    poller = FeedPoller(client, keys, fetcher, policy, get_logger(), lambda: 1_800_000_000.0)

    assert poller.poll(Feed(url)).new_items == 2
    queued = [json.loads(f["item"])["entry_id"] for _, f in client.xrange(keys.items_stream)]
    assert queued == ["post-2", "post-3"]
