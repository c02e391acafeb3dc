"""Changed feeds parsed without the items already seen: the entries, identities, dates and feed
hints must be what a parse of the whole body gives, on every file of the real corpus."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Response
from worker.feeds.layout import item_layout, without_spans
from worker.feeds.parse import (
    FeedDelta,
    FeedParseError,
    KnownEntry,
    decode_known,
    encode_known,
    parse_feed,
    parse_feed_delta,
)
from worker.fetching import Fetcher, FetchLimits
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy, parsed_facts
from worker.queue.keys import Keys, short_hash

URL = "https://news.example/feed"
_HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.M)


def content_type_of(body: bytes) -> str:
    """The Content-Type of feedparser's `Header:` test comments, as the torture test serves."""
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in _HEADER.findall(body[:1024])}
    return headers.get("content-type", "application/xml")


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in (corpus / "feeds").rglob("*.xml") if p.is_file())


def full_parse(body: bytes, content_type: str) -> FeedDelta:
    return parse_feed_delta(body, url=URL, content_type=content_type, known={})


def assert_same_as_full(body: bytes, content_type: str, known_positions: set[int]) -> bool:
    """Parse `body` with the items at `known_positions` known from a full parse; assert the
    outcome equals the full parse's. True when items were actually skipped."""
    try:
        full = full_parse(body, content_type)
    except FeedParseError:
        with pytest.raises(FeedParseError):
            parse_feed(body, url=URL, content_type=content_type)
        return False
    assert full.feed == parse_feed(body, url=URL, content_type=content_type)  # first poll
    assert not full.kept
    layout = item_layout(body, url=URL, content_type=content_type)
    if layout is None or full.known is None:
        return False
    known = {d: full.known[d] for i, d in enumerate(layout.digests) if i in known_positions}
    delta = parse_feed_delta(body, url=URL, content_type=content_type, known=known)
    skipped = [i for i, d in enumerate(layout.digests) if d in known]
    by_position = dict(zip(range(len(layout.spans)), full.feed.entries, strict=True))
    expected = [e for i, e in by_position.items() if i not in skipped]
    assert delta.feed.entries == expected
    assert [k.identity for k in delta.kept] == [
        short_hash(by_position[i].entry_id) for i in skipped
    ]
    header = ("title", "ttl_s", "update_s", "links")
    assert [getattr(delta.feed, h) for h in header] == [getattr(full.feed, h) for h in header]
    assert Counter(delta.published) == Counter(full.published)
    assert parsed_facts(delta) == parsed_facts(full)
    assert delta.known == full.known  # the next poll knows the same
    return bool(delta.kept)


def with_marked_copies(body: bytes, content_type: str) -> tuple[bytes, int] | None:
    """`body` with a copy of each item before it, a comment inside the copy's start so its bytes
    differ; and the number of items. None when `body` has no items laid out."""
    layout = item_layout(body, url=URL, content_type=content_type)
    if layout is None or not layout.spans:
        return None
    parts, position = [], 0
    for start, end in layout.spans:
        item = body[start:end]
        tag_end = item.find(b">") + 1
        if item[tag_end - 2 : tag_end] == b"/>":
            return None
        parts += [body[position:start], item[:tag_end], b"<!-- copy -->", item[tag_end:], item]
        position = end
    parts.append(body[position:])
    return b"".join(parts), len(layout.spans)


def test_corpus_feeds_with_several_entries(corpus: Path) -> None:
    reduced = 0
    for path in corpus_files(corpus):
        body = path.read_bytes()
        content_type = content_type_of(body)
        try:
            count = len(full_parse(body, content_type).feed.entries)
        except FeedParseError:
            continue
        if count < 2:
            continue
        for known in ({i for i in range(count) if i % 2 == 0}, set(range(count - 1)), {1}):
            reduced += assert_same_as_full(body, content_type, known)
    assert reduced >= 10


def test_every_corpus_file_with_a_known_copy_of_each_item(corpus: Path) -> None:
    """Each item of every corpus file (xml:base, namespaces, relative links, entities, odd
    dates, encodings), parsed without a known neighbour and as that neighbour's only change."""
    reduced, files = 0, corpus_files(corpus)
    for path in files:
        body = path.read_bytes()
        content_type = content_type_of(body)
        doubled = with_marked_copies(body, content_type)
        if doubled is None:
            assert_same_as_full(body, content_type, set(range(100)))  # fallback: whole parse
            continue
        document, items = doubled
        copies, originals = set(range(0, 2 * items, 2)), set(range(1, 2 * items, 2))
        reduced += assert_same_as_full(document, content_type, copies)
        reduced += assert_same_as_full(document, content_type, originals)
    assert len(files) > 2000
    assert reduced > 1000  # most of the corpus goes through the reduced path


def rss(*items: str, channel: str = "<title>T</title><ttl>90</ttl>") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>{channel}'
        f"{''.join(items)}</channel></rss>"
    ).encode()


def item(guid: str, title: str = "t", day: int = 1) -> str:
    return (
        f"<item><guid>urn:g:{guid}</guid><title>{title}</title><link>/a/{guid}</link>"
        f"<pubDate>Sat, {day:02d} Nov 2026 10:00:00 GMT</pubDate></item>"
    )


def test_edited_item_is_parsed_again_and_others_skipped() -> None:
    first = full_parse(rss(item("a", day=1), item("b", day=2), item("c", day=3)), "text/xml")
    assert first.known is not None
    second = rss(item("new", day=4), item("a", day=1), item("b", "edited", 2), item("c", day=3))
    delta = parse_feed_delta(second, url=URL, content_type="text/xml", known=first.known)
    assert [(e.entry_id, e.title) for e in delta.feed.entries] == [
        ("urn:g:new", "t"),
        ("urn:g:b", "edited"),
    ]
    assert [e.link for e in delta.feed.entries] == ["https://news.example/a/new"] * 1 + [
        "https://news.example/a/b"
    ]
    assert [k.identity for k in delta.kept] == [short_hash("urn:g:a"), short_hash("urn:g:c")]
    assert delta.feed.ttl_s == 5400
    assert delta.known is not None and len(delta.known) == 4


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (rss(item("a")).replace(b"utf-8", b"iso-8859-1"), "application/xml"),
        (rss(item("a")), "application/rss+xml; charset=windows-1252"),
        (b'<!DOCTYPE rss [<!ENTITY x "y">]>' + rss(item("a")).split(b"?>", 1)[1], None),
        (b"<html><body><item>x</item></body></html>", None),
        (rss(item("a")).replace(b"<title>T", b"<item><item>x</item></item><title>T"), None),
        (rss(item("a")).replace(b"</channel>", b"</chanel>"), None),
    ],
    ids=["latin-1", "http-charset", "internal-dtd", "not-a-feed", "nested", "ill-formed"],
)
def test_bodies_parsed_whole(body: bytes, content_type: str | None) -> None:
    assert item_layout(body, url=URL, content_type=content_type) is None


def test_digests_depend_on_what_changes_an_items_meaning() -> None:
    body = rss(item("a"))
    (plain,) = item_layout(body, url=URL, content_type=None).digests  # type: ignore[union-attr]
    variants = [
        item_layout(body, url=URL + "?moved", content_type=None),
        item_layout(body, url=URL, content_type="text/xml"),
        item_layout(body.replace(b"<rss ", b'<rss xml:base="/x/" '), url=URL, content_type=None),
        item_layout(body.replace(b"<rss ", b'<rss xmlns:dc="u" '), url=URL, content_type=None),
        item_layout(body.replace(b'"2.0"', b'"0.91"'), url=URL, content_type=None),
    ]
    for layout in variants:
        assert layout is not None and layout.digests != [plain]


def test_empty_item_and_cut_body() -> None:
    body = rss("<item/>", item("a"))
    layout = item_layout(body, url=URL, content_type=None)
    assert layout is not None
    assert [body[s:e][:12] for s, e in layout.spans] == [b"<item/>", b"<item><guid>"]
    assert without_spans(body, layout.spans) == rss()


def test_known_entries_survive_the_state_hash() -> None:
    known = {"d1": KnownEntry("i1", 1.5e9), "d2": KnownEntry("i2", None)}
    assert decode_known(encode_known(known)) == known
    assert decode_known("junk;d3 i3 notanumber;;d4 i4 ") == {"d4": KnownEntry("i4", None)}
    assert decode_known(None) == {}


# --- through the poller ----------------------------------------------------------------------


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as f:
        yield f


def poller_at(client: redis.Redis, keys: Keys, fetcher: Fetcher, now: list[float]) -> FeedPoller:
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600, seen_retention_s=86400)
    return FeedPoller(client, keys, fetcher, policy, get_logger(), lambda: now[0])


def queued_ids(client: redis.Redis, keys: Keys) -> list[str]:
    import json

    reply: list[tuple[str, dict[str, str]]] = client.xrange(keys.items_stream)  # type: ignore[assignment]
    return [json.loads(fields["item"])["entry_id"] for _id, fields in reply]


def test_poll_of_a_changed_feed_queues_only_new_and_keeps_facts(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    old = [item("a", day=1), item("b", day=3), item("c", day=6)]
    url = server.route("/feed", Response(200, rss(*old)))
    now = [1_800_000_000.0]
    poller = poller_at(client, keys, fetcher, now)
    poller.poll(Feed(url))
    assert queued_ids(client, keys) == ["urn:g:a", "urn:g:b", "urn:g:c"]
    changed = rss(item("d", day=10), old[0], item("b", "edited", 3), old[2])
    server.route("/feed", Response(200, changed))
    now[0] += 1000
    outcome = poller.poll(Feed(url))

    assert outcome.new_items == 1
    assert queued_ids(client, keys) == [
        "urn:g:a",
        "urn:g:b",
        "urn:g:c",
        "urn:g:d",
    ]  # edited "b": known
    state: dict[str, str] = client.hgetall(keys.feed_state(url))  # type: ignore[assignment]
    assert len(decode_known(state["known_entries"])) == 4
    for entry in ("a", "b", "c", "d"):  # skipped items are marked seen again, now
        assert client.zscore(keys.feed_seen(url), short_hash("urn:g:" + entry)) == now[0]

    fresh_keys = Keys(keys.prefix + "-fresh")
    try:
        poller_at(client, fresh_keys, fetcher, now).poll(Feed(url))  # the same body, whole
        fresh: dict[str, str] = client.hgetall(fresh_keys.feed_state(url))  # type: ignore[assignment]
        for name in ("rhythm_s", "newest_entry_at", "feed_hint_s", "known_entries"):
            assert state[name] == fresh[name], name
    finally:
        stale = list(client.scan_iter(match=f"{{{fresh_keys.prefix}:*"))
        client.delete(*stale)


def test_a_prefix_bound_to_two_namespaces_is_parsed_whole() -> None:
    """feedparser keeps one prefix map for the whole document: item b's `p:date` (an unknown
    namespace) is read as dc:date only when item a, binding `p` to Dublin Core, is parsed
    before it. The same entry must not come out otherwise for the item a poll skipped."""
    dated = '<item xmlns:p="http://purl.org/dc/elements/1.1/"><guid>urn:g:a</guid>'
    other = '<item xmlns:p="urn:other"><guid>urn:g:b</guid>'
    body = rss(
        f"{dated}<p:date>2026-01-01T00:00:00Z</p:date></item>",
        f"{other}<p:date>2026-02-02T00:00:00Z</p:date></item>",
    )
    assert_same_as_full(body, "application/rss+xml", {0})
    assert item_layout(body, url=URL, content_type="application/rss+xml") is None
