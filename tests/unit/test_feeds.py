"""Feed parsing: identity ladder, real corpus files, JSON Feed, hostile XML, non-feeds."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import feedparser
import pytest

from worker.errors import FetchError
from worker.feeds.parse import (
    FeedParseError,
    ParsedEntry,
    entry_identity,
    parse_feed,
    to_feed_item,
)
from worker.records import FeedItem

FEED_URL = "https://news.example/feed"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- identity ladder -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guid", "link", "title", "content", "expected"),
    [
        ("tag:news.example,2026:1", "https://news.example/a", "T", "C", "tag:news.example,2026:1"),
        ("  guid-with-spaces  ", "https://news.example/a", "", "", "guid-with-spaces"),
        ("", "https://news.example/a", "T", "C", "https://news.example/a"),
        ("   ", "https://news.example/a", "T", "C", "https://news.example/a"),
        ("", "", "Title", "Body", sha("title\nbody")),
        ("", "", "  Title \n ", "Body\t text", sha("title\nbody text")),
        ("", "", "", "", sha("\n")),
    ],
)
def test_identity_ladder(guid: str, link: str, title: str, content: str, expected: str) -> None:
    assert entry_identity(guid, link, title, content) == expected


def test_hash_identity_ignores_whitespace_case_and_unicode_form() -> None:
    composed = entry_identity("", "", "Café  news", "Body")
    decomposed = entry_identity("", "", "cafe\u0301 NEWS", " body ")
    assert composed == decomposed


def test_hash_identity_separates_title_from_content() -> None:
    assert entry_identity("", "", "ab", "c") != entry_identity("", "", "a", "bc")


def test_to_feed_item_merges_tags_feed_first_without_duplicates() -> None:
    entry = ParsedEntry(entry_id="g1", link="https://news.example/a", title="T", tags=("x", "y"))
    item = to_feed_item(entry, FEED_URL, "News", ["y", "world"])
    assert item == FeedItem(
        feed_url=FEED_URL,
        feed_name="News",
        entry_id="g1",
        link="https://news.example/a",
        title="T",
        tags=["y", "world", "x"],
        feed_tags=["y", "world"],
    )
    assert FeedItem.from_json(item.to_json()) == item


# --- real feeds from the corpus ------------------------------------------------------------


def parse_file(corpus: Path, relative: str) -> list[ParsedEntry]:
    path = corpus / "feeds" / relative
    return parse_feed(path.read_bytes(), url=FEED_URL, content_type="application/xml").entries


@pytest.mark.parametrize(
    ("relative", "field", "expected"),
    [
        ("wellformed/rss/item_guid_conflict_link.xml", "entry_id", "http://guid.example.com/"),
        ("wellformed/rss/item_guid_conflict_link.xml", "link", "http://link.example.com/"),
        ("wellformed/rss/item_guid_guidislink.xml", "entry_id", "http://guid.example.com/"),
        ("wellformed/rss/item_link.xml", "entry_id", "http://example.com/"),
        ("wellformed/rss/item_author.xml", "author", "Example editor"),
        ("wellformed/rss/item_pubDate.xml", "published_at", "2004-01-01T19:48:21+00:00"),
        ("wellformed/atom10/entry_id.xml", "entry_id", "http://example.com/"),
        ("wellformed/atom10/entry_content_and_summary.xml", "content", "Example Atom"),
        ("wellformed/atom10/entry_content_and_summary.xml", "summary", "Summary"),
        ("wellformed/atom10/entry_category_term.xml", "tags", ("atom10",)),
    ],
)
def test_corpus_entries(corpus: Path, relative: str, field: str, expected: object) -> None:
    entries = parse_file(corpus, relative)
    assert len(entries) == 1
    assert getattr(entries[0], field) == expected


def test_corpus_internal_entity_is_refused_however_harmless(corpus: Path) -> None:
    """XML entities are never expanded (issue 11): even a short one is refused, clearly."""
    with pytest.raises(FeedParseError, match="entity 'id' declared"):
        parse_file(corpus, "wellformed/rss/entity_in_doctype.xml")


def test_entry_without_guid_or_link_gets_content_hash(corpus: Path) -> None:
    [entry] = parse_file(corpus, "wellformed/atom10/entry_content_and_summary.xml")
    assert entry.entry_id == sha("\nexample atom")


def test_ttl_hint_is_in_seconds(corpus: Path) -> None:
    path = corpus / "feeds/wellformed/rss/channel_ttl.xml"
    feed = parse_feed(path.read_bytes(), url=FEED_URL, content_type=None)
    assert feed.ttl_s == 3600
    assert feed.entries == []  # a titleless, empty but real RSS document is not an error


def test_every_wellformed_rss_and_atom_file_parses(corpus: Path) -> None:
    files = sorted((corpus / "feeds/wellformed").glob("**/*.xml"))
    failures = []
    for path in files:
        if path.parent.name == "cdf":
            continue  # Channel Definition Format is not RSS or Atom: no entries to read
        try:
            feed = parse_feed(path.read_bytes(), url=FEED_URL, content_type=None)
        except FetchError as exc:
            failures.append(f"{path.name}: {exc}")
            continue
        assert all(e.entry_id for e in feed.entries)
    assert len(files) > 1000
    # the one file declaring an entity: entities are never expanded (issue 11)
    assert failures == [
        f"entity_in_doctype.xml: {FEED_URL}: refused XML: entity 'id' declared"
        " (entities are never expanded)"
    ]


def test_bozo_feed_with_entries_is_accepted() -> None:
    body = b"<rss version='2.0'><channel><title>T</title><item><title>A & B</title><guid>tag:g,1</guid>"
    feed = parse_feed(body, url=FEED_URL, content_type="application/rss+xml")
    assert feed.bozo_message
    assert [e.entry_id for e in feed.entries] == ["tag:g,1"]
    assert feed.entries[0].title == "A & B"


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = b"<rss version='2.0'><channel><title>T</title><item><link>/a/1</link></item></channel></rss>"
    [entry] = parse_feed(body, url=FEED_URL, content_type=None).entries
    assert entry.link == "https://news.example/a/1"


# --- JSON Feed -------------------------------------------------------------------------------


def test_json_feed_from_corpus(corpus: Path) -> None:
    body = (corpus / "feeds/json/example.json").read_bytes()
    feed = parse_feed(body, url="https://example.org/feed.json", content_type="application/json")
    assert feed.title == "My Example Feed"
    first, second = feed.entries
    assert (first.entry_id, first.link, first.content) == (
        "2",
        "https://example.org/second-item",
        "This is a second item.",
    )
    assert first.tags == ("test", "JSON")
    assert (second.entry_id, second.author) == ("1", "you")
    assert second.content.startswith("<p>Hello, world!</p>")


def json_feed(items: list[dict[str, object]], version: str = "1.1") -> bytes:
    return json.dumps(
        {"version": f"https://jsonfeed.org/version/{version}", "title": "J", "items": items}
    ).encode()


@pytest.mark.parametrize(
    ("item", "field", "expected"),
    [
        ({"id": 42, "url": "https://j.example/a"}, "entry_id", "42"),
        ({"url": "https://j.example/a"}, "entry_id", "https://j.example/a"),
        ({"title": "Only title"}, "entry_id", sha("only title\n")),
        ({"id": "x", "url": "/rel"}, "link", "https://j.example/rel"),
        ({"id": "x", "content_text": "a < b"}, "content", "a &lt; b"),
        ({"id": "x", "content_html": "<b>x</b>", "content_text": "x"}, "content", "<b>x</b>"),
        ({"id": "x", "summary": "S"}, "summary", "S"),
        ({"id": "x", "authors": [{"name": "A"}, {"name": "B"}]}, "author", "A, B"),
        ({"id": "x", "author": {"name": "Old"}}, "author", "Old"),
        ({"id": "x", "date_published": "2026-11-01T12:00:00+02:00"}, "published_at",
         "2026-11-01T10:00:00+00:00"),
        ({"id": "x", "date_published": "2026-11-01T10:00:00Z"}, "published_at",
         "2026-11-01T10:00:00+00:00"),
        ({"id": "x", "date_published": "yesterday"}, "published_at", ""),
        ({"id": "x", "tags": ["a", 3, None, ""]}, "tags", ("a", "3")),
    ],
)  # fmt: skip
def test_json_feed_items(item: dict[str, object], field: str, expected: object) -> None:
    feed = parse_feed(json_feed([item]), url="https://j.example/feed.json", content_type=None)
    assert getattr(feed.entries[0], field) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"title": "x", "items": []}', "JSON Feed version"),
        (b"[1, 2]", "JSON Feed version"),
    ],
)
def test_json_that_is_not_a_json_feed(body: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed(body, url=FEED_URL, content_type="application/json")


# --- not feeds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", None, "empty response"),
        (b"  \n\t ", "application/rss+xml", "empty response"),
        (
            b"<!DOCTYPE html><html><head><title>Welcome</title></head><body>Hi</body></html>",
            "text/html",
            "looks like HTML",
        ),
        (b"<html><body><p>Moved</p></body></html>", "application/rss+xml", "looks like HTML"),
        (b"just some text", "text/plain", "not a feed"),
    ],
)
def test_non_feeds_raise(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(FeedParseError, match=message) as info:
        parse_feed(body, url=FEED_URL, content_type=content_type)
    assert isinstance(info.value, FetchError)
    assert FEED_URL in str(info.value)


def test_a_body_naming_a_local_file_is_not_opened(tmp_path: Path) -> None:
    """feedparser opens its argument as a file when it can; we hand it a stream, never a name."""
    local = tmp_path / "local.xml"
    local.write_bytes(b"<rss version='2.0'><channel><title>LOCAL SECRET</title></channel></rss>")
    with pytest.raises(FeedParseError):
        parse_feed(str(local).encode(), url=FEED_URL, content_type=None)


# --- hostile XML -----------------------------------------------------------------------------

SECRET = "wirewatch-secret-3f1c9"

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>T</title>
<item><guid>g</guid><title>&lol9;</title><description>&lol9;</description></item>
</channel></rss>"""

PARAMETER_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY % a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY % b "%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;">
<!ENTITY c "%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;%b;">
]>
<rss version="2.0"><channel><title>T</title><item><guid>g</guid><title>&c;</title></item>
</channel></rss>"""


def external_entity_docs(secret_file: Path) -> list[bytes]:
    uri = secret_file.as_uri().encode()
    rss_tail = b"<rss version='2.0'><channel><title>T &xxe;</title><item><guid>g</guid>"
    rss_tail += b"<title>&xxe;</title><description>x &xxe; y</description></item></channel></rss>"
    return [
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "'
        + uri
        + b'">\n]>\n'
        + rss_tail,
        b'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "' + uri + b'">]>' + rss_tail,  # one line
        b'<!DOCTYPE rss [<!ENTITY a "b">\n<!ENTITY xxe PUBLIC "-//x//EN" "'
        + uri
        + b'">]>'
        + rss_tail,
        (
            '<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [\n'
            f'<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">\n]>\n'
        ).encode("utf-16")
        + rss_tail.decode().encode("utf-16-le"),
    ]


def everything_in(feed_or_error: object) -> str:
    return repr(feed_or_error) + str(feed_or_error)


def test_external_entity_never_reads_the_local_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    for doc in external_entity_docs(secret_file):
        try:
            outcome: object = parse_feed(doc, url=FEED_URL, content_type="application/xml")
        except FeedParseError as exc:
            outcome = exc
        assert SECRET not in everything_in(outcome)
        # Second line of defence: feedparser on its own never loads the entity either.
        assert SECRET not in repr(feedparser.parse(io.BytesIO(doc)))


def test_external_entity_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    doc = external_entity_docs(secret_file)[0]
    with pytest.raises(FeedParseError, match="external entity 'xxe'"):
        parse_feed(doc, url=FEED_URL, content_type="application/xml")


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(FeedParseError, match="entity 'lol' declared"):
        parse_feed(LAUGHS, url=FEED_URL, content_type="application/xml")


def test_parameter_entity_bomb_is_refused() -> None:
    """Entities with values are refused whatever they hold (entities are never expanded)."""
    with pytest.raises(FeedParseError, match="parameter entity 'a' declared"):
        parse_feed(PARAMETER_LAUGHS, url=FEED_URL, content_type="application/xml")


def test_feedparser_alone_does_not_expand_billion_laughs() -> None:
    """The refusal above has a second line behind it: feedparser drops such declarations."""
    result = feedparser.parse(io.BytesIO(LAUGHS))
    texts = [str(e.get("title", "")) + str(e.get("summary", "")) for e in result.entries]
    assert all(len(text) < 100 for text in texts)
    assert "lollollol" not in "".join(texts)
