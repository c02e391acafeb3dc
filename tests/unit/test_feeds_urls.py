"""Ids and links are joined to the feed's URL after parsing, exactly as feedparser joins them
when given the URL as the document's location (so identities stay what they always were)."""

from __future__ import annotations

import io

import feedparser
import pytest

from worker.feeds.parse import parse_feed

URL = "http://news.example/feeds/world.xml"


def rss(item: str, channel_attrs: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"{channel_attrs}><channel><title>T</title>'
        f"<item>{item}</item></channel></rss>"
    ).encode()


def atom(entry: str, base: str = "") -> bytes:
    xml_base = f' xml:base="{base}"' if base else ""
    return (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"{xml_base}>'
        f"<title>T</title><entry>{entry}</entry></feed>"
    ).encode()


CASES = {
    "relative guid": rss("<guid>item-7</guid><link>/a/b</link>"),
    "absolute guid": rss("<guid>http://other.example/7</guid><link>../up</link>"),
    "urn guid": rss("<guid>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</guid>"),
    "tag uri": atom("<id>tag:news.example,2026:7</id><link href='7.html'/>"),
    "guid as link": rss('<guid isPermaLink="true">story/7</guid>'),
    "no guid, relative link": rss("<link>story/8</link><title>x</title>"),
    "atom xml:base relative": atom("<id>e/9</id><link href='9.html'/>", base="/base/"),
    "atom xml:base absolute": atom("<id>e/9</id><link href='9.html'/>", "http://cdn.example/"),
    "entry xml:base": atom("<id xml:base='sub/'>e/10</id><link href='10.html'/>"),
    "javascript link": rss("<guid>j</guid><link>javascript:alert(1)</link>"),
    "empty": rss("<title>only a title</title>"),
}


def feedparser_with_url(body: bytes) -> list[tuple[str, str]]:
    headers = {"content-type": "application/xml", "content-location": URL}
    result = feedparser.parse(io.BytesIO(body), response_headers=headers)
    return [(str(e.get("id", "")), str(e.get("link", ""))) for e in result.entries]


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_ids_and_links_match_feedparser_given_the_url(body: bytes) -> None:
    parsed = parse_feed(body, url=URL, content_type="application/xml")
    expected = feedparser_with_url(body)
    got = [(e.entry_id, e.link) for e in parsed.entries]
    # entry_id falls back to the link, then a hash, when the feed gives no id
    assert [link for _, link in got] == [link for _, link in expected]
    assert [i for i, _ in got if i in {x for x, _ in expected if x}] == [
        x for x, _ in expected if x
    ]


def test_a_relative_guid_becomes_a_url_under_the_feed() -> None:
    (entry,) = parse_feed(CASES["relative guid"], url=URL, content_type=None).entries
    assert (entry.entry_id, entry.link) == (
        "http://news.example/feeds/item-7",
        "http://news.example/a/b",
    )
