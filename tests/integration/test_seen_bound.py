"""The seen-entry index is bounded per feed by what the feed can still show, not by age alone,
and an upgrade from the single index of earlier versions queues nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Response
from worker.feeds.parse import to_feed_item
from worker.feeds.seen import entries_to_keep
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.keys import Keys, short_hash

BODY = 40  # entries a feed shows
STEP = 20  # new entries per poll


def rss(first: int, count: int = BODY) -> bytes:
    """Entries first .. first+count-1, newest first, as a feed shows its latest."""
    items = "".join(
        f"<item><guid>urn:e:{n}</guid><title>entry {n}</title><link>/a/{n}</link></item>"
        for n in range(first + count - 1, first - 1, -1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as f:
        yield f


def make_poller(client: redis.Redis, keys: Keys, fetcher: Fetcher, now: list[float]) -> FeedPoller:
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600, seen_retention_s=90 * 86400)
    return FeedPoller(client, keys, fetcher, policy, get_logger(), lambda: now[0])


def queued(client: redis.Redis, keys: Keys) -> list[str]:
    return [json.loads(f["item"])["entry_id"] for _, f in client.xrange(keys.items_stream)]


def test_a_rolling_feed_keeps_a_bounded_seen_set_and_queues_each_entry_once(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    now = [1_800_000_000.0]
    poller = make_poller(client, keys, fetcher, now)
    feed = Feed(server.url("/feed"))
    polls = 20
    for n in range(polls):
        server.route("/feed", Response(200, rss(n * STEP)))
        if n % 3 == 2:  # a stale copy (a CDN node) serves the body of two polls ago in between
            server.route("/feed", Response(200, rss((n - 2) * STEP)))
            poller.poll(feed)
            server.route("/feed", Response(200, rss(n * STEP)))
        poller.poll(feed)
        now[0] += 60

    entries = queued(client, keys)
    assert len(entries) == len(set(entries)) == (polls - 1) * STEP + BODY, "each entry once"
    assert client.zcard(keys.feed_seen(feed.url)) == entries_to_keep(BODY), "not every entry ever"
    newest = {
        short_hash(f"urn:e:{n}") for n in range((polls - 1) * STEP, (polls - 1) * STEP + BODY)
    }
    remembered = set(client.zrange(keys.feed_seen(feed.url), 0, -1))
    assert newest <= remembered, "what the feed shows now is always remembered"


def test_an_upgrade_from_the_single_index_queues_nothing_twice(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    now = [1_800_000_000.0]
    feed = Feed(server.route("/feed", Response(200, rss(0))))
    for n in range(BODY):  # what an earlier version wrote: one set, "<feed hash>:<entry hash>"
        member = f"{short_hash(feed.url)}:{short_hash(f'urn:e:{n}')}"
        client.zadd(keys.seen_entries, {member: now[0] - 3600})

    outcome = make_poller(client, keys, fetcher, now).poll(feed)

    assert outcome.new_items == 0 and queued(client, keys) == []
    assert client.zcard(keys.feed_seen(feed.url)) == BODY, "moved to the feed's own set"
    assert client.zcard(keys.seen_entries) == 0


def test_a_partial_body_never_cuts_the_feeds_seen_set(
    client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    """A WebSub push carries the new entries only: it says nothing of what the feed shows."""
    from worker.feeds.parse import ParsedEntry

    now = [1_800_000_000.0]
    poller = make_poller(client, keys, fetcher, now)
    url = "https://ex.com/feed"
    many = [to_feed_item(ParsedEntry(f"urn:e:{n}"), url, "Ex", []) for n in range(150)]
    poller.intake.enqueue(url, many)
    poller.intake.enqueue(url, [to_feed_item(ParsedEntry("urn:e:new"), url, "Ex", [])])

    assert client.zcard(keys.feed_seen(url)) == 151
