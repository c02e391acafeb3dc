"""Feed bytes -> entries with a stable identity. Pure: no I/O, no clock.

RSS, Atom and RDF go through feedparser, always from bytes (given a str that looks like a URL or a
path, feedparser would fetch or open it). JSON Feed, which feedparser 6.0 does not read, has a
small reader here.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import itertools
import json
import re
import unicodedata
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import struct_time
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.urls import _urljoin as feedparser_urljoin

from worker.errors import FetchError
from worker.feeds.guids import capped, former_guid, identity_guid, needs_base
from worker.feeds.layout import ItemLayout, item_layout, without_spans
from worker.queue.keys import short_hash
from worker.records import FeedItem
from worker.times import iso_to_epoch

JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/"
_SY_PERIOD_S = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


class FeedParseError(FetchError):
    """The response is not a feed (HTML, empty, broken JSON) or is hostile XML."""

    reason = "not_a_feed"


@dataclass(frozen=True)
class ParsedEntry:
    entry_id: str
    link: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""  # the first content value, HTML
    author: str = ""
    published_at: str = ""  # ISO-8601 UTC or ""
    tags: tuple[str, ...] = ()
    # The identity the rule before GUID-text-alone gave this entry, when it differs (so an entry
    # seen under it is not queued again: worker/polling/guids.py)
    former_id: str = ""


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[ParsedEntry] = field(default_factory=list)
    bozo_message: str | None = None  # why the XML was not well-formed, when entries came anyway
    ttl_s: float | None = None  # the feed's own refresh hint (RSS <ttl>), in seconds
    update_s: float | None = None  # sy:updatePeriod / sy:updateFrequency, in seconds
    links: tuple[tuple[str, str], ...] = ()  # (rel, href) of the hub and self links (WebSub)


def entry_identity(guid: str, link: str, title: str, content: str) -> str:
    """The ladder Miniflux uses: the publisher's GUID when given (it survives edits to the title
    and link), else the link (stable for nearly every feed that lacks GUIDs), else a hash of the
    normalised title and content, so an entry with neither still gets the same identity on every
    poll. Identities are unique within one feed; callers scope them by feed URL. One longer
    than any real id or link is hashed (worker/polling/guids.py)."""
    return capped(_identity_ladder(guid, link, title, content))


def _identity_ladder(guid: str, link: str, title: str, content: str) -> str:
    for candidate in (guid, link):
        if candidate.strip():
            return candidate.strip()
    text = _normalise(title) + "\n" + _normalise(content)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def to_feed_item(
    entry: ParsedEntry, feed_url: str, feed_name: str, feed_tags: list[str]
) -> FeedItem:
    """The record queued for workers; the feed's configured tags come before the entry's own."""
    tags = list(dict.fromkeys([*feed_tags, *entry.tags]))
    return FeedItem(
        feed_url=feed_url,
        feed_name=feed_name,
        entry_id=entry.entry_id,
        link=entry.link,
        title=entry.title,
        summary=entry.summary,
        content=entry.content,
        author=entry.author,
        published_at=entry.published_at,
        tags=tags,
        feed_tags=list(feed_tags),
    )


def parse_feed(body: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
    """Parse a fetched feed; raise FeedParseError when `body` is not one."""
    _refuse_non_feed(body, url)
    if _is_json(body, content_type):
        return parse_json_feed(body, url=url)
    _refuse_hostile_dtd(body, url)
    _refuse_markup_floods(body, url)
    return _parse_xml(body, body, url, content_type)[0]


def _refuse_non_feed(body: bytes, url: str) -> None:
    if not body.strip():
        raise FeedParseError(f"{url}: empty response")


def _parse_xml(
    body: bytes, given: bytes, url: str, content_type: str | None
) -> tuple[ParsedFeed, bool]:
    """feedparser on `given` (`body` itself, or `body` without some of its items), and whether
    it read it cleanly."""
    # Given a base URL, feedparser re-joins it at every element (a third more parse time), and
    # only ids and links need it: without xml:base or relative ids, _entry_from_feedparser joins
    # those itself to the same values (worker/polling/guids.py). With xml:base, feedparser (6.0)
    # lets one element's base leak to the next unless the document has a base of its own, and
    # only feedparser knows which relative ids are permalinks: those feeds get the URL.
    headers = {"content-type": content_type or "application/xml"}
    with_base = needs_base(body)
    if with_base:
        headers["content-location"] = url
    result = feedparser.parse(io.BytesIO(given), response_headers=headers)
    feed = _from_feedparser(result, "" if with_base else url, url)
    if not feed.entries and not feed.title and not result.get("version"):
        raise FeedParseError(f"{url}: not a feed: {_why_not(body, feed.bozo_message)}")
    return feed, _read_cleanly(result)


def _read_cleanly(result: Any) -> bool:
    """Whether feedparser read the document as well-formed XML (a charset it had to correct,
    as for text/xml without one, is not a flaw of the document's structure)."""
    if not result.get("bozo"):
        return True
    return isinstance(result.get("bozo_exception"), feedparser.CharacterEncodingOverride)


# --- changed feeds: parse only the items not seen in the previous body ------------------------


@dataclass(frozen=True)
class KnownEntry:
    """What is kept of an item between polls, so it need not be parsed again."""

    identity: str  # short hash of its entry_id (the seen-set member without the feed part)
    published: float | None  # epoch seconds, for the feed's publishing rhythm


@dataclass(frozen=True)
class FeedDelta:
    feed: ParsedFeed  # the header, and the entries of the items not known (edited ones too)
    kept: list[KnownEntry]  # the known items still in the body, in order
    known: dict[str, KnownEntry] | None  # by item digest, for the next poll; None: unknown

    @property
    def published(self) -> list[float | None]:
        """Publication times of every entry of the body, known or parsed now."""
        parsed = [iso_to_epoch(e.published_at) for e in self.feed.entries]
        return [k.published for k in self.kept] + parsed


MAX_KNOWN_ENTRIES = 500  # per feed; items past these are parsed on every change


def parse_feed_delta(
    body: bytes, *, url: str, content_type: str | None, known: Mapping[str, KnownEntry]
) -> FeedDelta:
    """Parse a changed feed, skipping the items whose digest is in `known` (from the previous
    poll): feedparser gets the body without them. Their entries would come out as before,
    so only their identity (to mark them seen again) and date (for the rhythm) are kept.
    Raise FeedParseError when `body` is not a feed."""
    _refuse_non_feed(body, url)
    if _is_json(body, content_type):
        return FeedDelta(parse_json_feed(body, url=url), [], None)
    _refuse_hostile_dtd(body, url)
    _refuse_markup_floods(body, url)
    layout = item_layout(body, url=url, content_type=content_type)
    if layout is None:
        return FeedDelta(_parse_xml(body, body, url, content_type)[0], [], None)
    skipped = [i for i, d in enumerate(layout.digests) if d in known]
    if skipped:
        given = without_spans(body, [layout.spans[i] for i in skipped])
        delta = _aligned_delta(body, given, url, content_type, layout, skipped, known)
        if delta is not None:
            return delta
    feed = _parse_xml(body, body, url, content_type)[0]
    return FeedDelta(feed, [], _known_now(layout, [], feed.entries, {}))


def _aligned_delta(
    body: bytes,
    given: bytes,
    url: str,
    content_type: str | None,
    layout: ItemLayout,
    skipped: list[int],
    known: Mapping[str, KnownEntry],
) -> FeedDelta | None:
    """The delta from the reduced body; None when feedparser did not read it cleanly or gave
    a different number of entries than items left (then the whole body is parsed)."""
    try:
        feed, clean = _parse_xml(body, given, url, content_type)
    except FeedParseError:
        return None
    if not clean or len(feed.entries) != len(layout.spans) - len(skipped):
        return None
    kept = [known[layout.digests[i]] for i in skipped]
    return FeedDelta(feed, kept, _known_now(layout, skipped, feed.entries, known))


def _known_now(
    layout: ItemLayout,
    skipped: list[int],
    parsed: list[ParsedEntry],
    known: Mapping[str, KnownEntry],
) -> dict[str, KnownEntry] | None:
    """Every item of the body by digest: the skipped ones as they were known, the parsed ones
    from their entries (in document order, one entry per item left)."""
    if len(parsed) != len(layout.spans) - len(skipped):
        return None  # feedparser saw the items otherwise than the layout: remember nothing
    skipped_set, entries, now = set(skipped), iter(parsed), {}
    for index, digest in enumerate(layout.digests[:MAX_KNOWN_ENTRIES]):
        if index in skipped_set:
            now[digest] = known[digest]
        else:
            entry = next(entries)
            now[digest] = KnownEntry(short_hash(entry.entry_id), iso_to_epoch(entry.published_at))
    return now


def encode_known(known: Mapping[str, KnownEntry]) -> str:
    """For the feed's state hash: "digest identity published" per item, ";" between."""
    return ";".join(
        f"{d} {k.identity} {'' if k.published is None else repr(k.published)}"
        for d, k in known.items()
    )


def decode_known(text: str | None) -> dict[str, KnownEntry]:
    """The stored items; anything unreadable is simply not known (its item is parsed)."""
    known: dict[str, KnownEntry] = {}
    for record in (text or "").split(";"):
        fields = record.split(" ")
        if len(fields) != 3:
            continue
        try:
            published = float(fields[2]) if fields[2] else None
        except ValueError:
            continue
        known[fields[0]] = KnownEntry(fields[1], published)
    return known


def _is_json(body: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _why_not(body: bytes, bozo_message: str | None) -> str:
    if _HTML_START.match(body[:4096]):
        return "looks like HTML"
    return bozo_message or "no feed title and no entries"


# --- hostile XML -----------------------------------------------------------------------------


class _PrologDone(Exception):
    """Raised to stop expat at the first element: only the DTD is of interest."""


def _refuse_hostile_dtd(body: bytes, url: str) -> None:
    """Refuse documents whose DTD declares an entity with a value (`<!ENTITY a "…">`, general or
    parameter) or an external general entity (XXE: `&xxe;` would pull in a local file): XML
    entities are never expanded. One internal entity of 290 characters referenced 3,000,000
    times in a 9 MB body would make 870 MB of text (and billion laughs, entities built from
    entities, far more). feedparser keeps "safe" internal entities and expat expands them; this
    refusal happens before either sees the body. External parameter entities (old RDF feeds
    reference the XHTML entity sets so) are left alone: neither parser loads them.
    Expat stops at the first element here, so nothing is ever expanded."""
    problems: list[str] = []

    def on_entity(name: str, is_param: int, value: str | None, *rest: str | None) -> None:
        _base, system_id, public_id = rest[:3]
        if value is not None:
            kind = "parameter entity" if is_param else "entity"
            problems.append(f"{kind} {name!r} declared (entities are never expanded)")
        elif not is_param and (system_id or public_id):
            problems.append(f"external entity {name!r}")

    def on_element(*_: object) -> None:
        raise _PrologDone

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = on_element
    # Malformed documents are feedparser's to judge, leniently.
    with contextlib.suppress(_PrologDone, xml.parsers.expat.ExpatError, ValueError, LookupError):
        parser.Parse(body, True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise FeedParseError(f"{url}: refused XML: {problems[0]}{more}")


# References to entities no DTD declares (`&a;`; HTML names such as `&nbsp;` are the usual
# ones) make a body not well-formed, and feedparser's lenient parser then spends about 190 bytes
# of memory on each: 3,000,000 of them in 9 MB took 560 MB. Real feeds have a few; more than
# this many, and more than one per this many bytes of the body, and the body is refused.
MAX_UNDECLARED_REFERENCES = 10_000
BYTES_PER_UNDECLARED_REFERENCE = 50
_UNDECLARED_REFERENCE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z_:][\w.:-]*;")


# Each tag feedparser (or its HTML sanitizer, for markup in CDATA) handles costs about 300
# bytes while it parses: 200,000 `<b/>` in 0.8 MB took 62 MB. Real feeds, HTML content
# included, have a tag every 40 bytes or more (the test corpus: 42 to 88); more than this many
# tags, and more than one per this many bytes of the body, and the body is refused.
MAX_TAGS = 100_000
BYTES_PER_TAG = 16


def _refuse_markup_floods(body: bytes, url: str) -> None:
    """Refuse a body with a flood of tags or of undeclared entity references (see above)."""
    tags, most = body.count(b"<"), max(MAX_TAGS, len(body) // BYTES_PER_TAG)
    if tags > most:
        raise FeedParseError(
            f"{url}: refused XML: {tags:,} tags in a body of {len(body):,} bytes (at most {most:,})"
        )
    limit = max(MAX_UNDECLARED_REFERENCES, len(body) // BYTES_PER_UNDECLARED_REFERENCE)
    if body.count(b"&") <= limit:  # the common case: no counting at all
        return
    found = sum(1 for _ in itertools.islice(_UNDECLARED_REFERENCE.finditer(body), limit + 1))
    if found > limit:
        raise FeedParseError(
            f"{url}: refused XML: more than {limit:,} references to undeclared entities"
            f" (&name; with no DTD declaring it) in a body of {len(body):,} bytes"
        )


# --- feedparser results ----------------------------------------------------------------------


def _from_feedparser(result: Any, base: str, url: str) -> ParsedFeed:
    bozo = result.get("bozo_exception") if result.get("bozo") else None
    return ParsedFeed(
        title=str(result.feed.get("title", "")).strip(),
        entries=[_entry_from_feedparser(e, base, url) for e in result.entries],
        bozo_message=str(bozo) if bozo is not None else None,
        ttl_s=_ttl_seconds(result.feed.get("ttl")),
        update_s=sy_update_seconds(
            result.feed.get("sy_updateperiod"), result.feed.get("sy_updatefrequency")
        ),
        links=_websub_links(result.feed.get("links")),
    )


def _websub_links(links: Any) -> tuple[tuple[str, str], ...]:
    """The feed's own rel="hub" and rel="self" links, as written (WebSub discovery)."""
    wanted = ("hub", "self")
    return tuple(
        (str(link["rel"]), str(link["href"]))
        for link in links or ()
        if link.get("rel") in wanted and link.get("href")
    )


def _entry_from_feedparser(entry: Any, base: str, url: str) -> ParsedEntry:
    """`base` is the feed's URL when feedparser was not given it (links are joined here then),
    else "". Identities come from the GUID text alone (worker/polling/guids.py)."""
    link = _joined(base, str(entry.get("link", "")))
    title = str(entry.get("title", ""))
    summary = str(entry.get("summary", ""))
    contents = entry.get("content") or []
    content = str(contents[0].get("value", "")) if contents else ""
    raw_id = str(entry.get("id", ""))
    entry_id = entry_identity(identity_guid(raw_id, url), link, title, content or summary)
    former = _identity_ladder(former_guid(raw_id, url), link, title, content or summary)
    return ParsedEntry(
        entry_id=entry_id,
        former_id=former if former != entry_id else "",
        link=link,
        title=title,
        summary=summary,
        content=content,
        author=str(entry.get("author", "")),
        published_at=_iso_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        tags=tuple(str(t["term"]) for t in entry.get("tags") or [] if t.get("term")),
    )


def _joined(base: str, uri: str) -> str:
    """`uri` against the feed's URL, as feedparser resolves links given a base."""
    return feedparser_urljoin(base, uri) if uri and base else uri


def _iso_utc(parsed: struct_time | None) -> str:
    """feedparser's *_parsed values are already UTC."""
    if parsed is None:
        return ""
    return datetime(*parsed[:6], tzinfo=UTC).isoformat()


def _ttl_seconds(ttl: object) -> float | None:
    """RSS <ttl> counts minutes."""
    try:
        minutes = float(str(ttl))
    except ValueError:
        return None
    return minutes * 60 if minutes > 0 else None


# --- JSON Feed 1.0 / 1.1 -----------------------------------------------------------------------


def parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedParseError(f"{url}: not a feed: invalid JSON ({exc})") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION_PREFIX):
        raise FeedParseError(f"{url}: not a feed: JSON without a JSON Feed version")
    base = _text(data.get("home_page_url")) or url
    items = data.get("items")
    entries = [_json_entry(i, base) for i in items if isinstance(i, dict)] if items else []
    hubs = data.get("hubs") if isinstance(data.get("hubs"), list) else []
    links = [("hub", _text(h.get("url"))) for h in hubs if isinstance(h, dict)]
    links.append(("self", _text(data.get("feed_url"))))
    wanted = tuple(pair for pair in links if pair[1])
    return ParsedFeed(title=_text(data.get("title")), entries=entries, links=wanted)


def _json_entry(item: dict[str, Any], base: str) -> ParsedEntry:
    link = urljoin(base, _text(item.get("url"))) if item.get("url") else ""
    title = _text(item.get("title"))
    content = _text(item.get("content_html")) or html.escape(_text(item.get("content_text")))
    summary = _text(item.get("summary"))
    return ParsedEntry(
        entry_id=entry_identity(_text(item.get("id")), link, title, content or summary),
        link=link,
        title=title,
        summary=summary,
        content=content,
        author=_json_author(item),
        published_at=_rfc3339_to_utc(_text(item.get("date_published"))),
        tags=tuple(_text(t) for t in item.get("tags") or [] if _text(t)),
    )


def _json_author(item: dict[str, Any]) -> str:
    """1.1 has `authors` (a list); 1.0 had a single `author`."""
    authors = item.get("authors")
    candidates = authors if isinstance(authors, list) else [item.get("author")]
    names = [_text(a.get("name")) for a in candidates if isinstance(a, dict)]
    return ", ".join(n for n in names if n)


def _rfc3339_to_utc(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # RFC 3339 requires an offset; assume UTC
    return parsed.astimezone(UTC).isoformat()


def _text(value: object) -> str:
    """JSON Feed fields are strings, but ids are often numbers in the wild."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value).strip()
    return ""


def sy_update_seconds(period: str | None, frequency: str | None) -> float | None:
    """RSS syndication module: `updateFrequency` updates per `updatePeriod` (default daily, 1)."""
    if not period and not frequency:
        return None
    span = _SY_PERIOD_S.get((period or "daily").strip().lower())
    try:
        times = int((frequency or "1").strip())
    except ValueError:
        times = 1
    if span is None or times <= 0:
        return None
    return span / times
