"""Feed lists: OPML import and export, and feed discovery in a site's HTML. Pure over bytes.

OPML arrives from other readers, so it is parsed with defusedxml (no entity expansion, no
external entities). Discovery reads `<link rel="alternate">` with lxml's HTML parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as safe_xml
import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from worker.errors import WirewatchError

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "text/xml",
    "application/xml",
)


class OpmlError(WirewatchError):
    """The file is not OPML wirewatch can read."""


@dataclass(frozen=True)
class FeedEntry:
    url: str
    name: str = ""
    tags: tuple[str, ...] = ()


def parse_opml(data: bytes) -> list[FeedEntry]:
    """Every outline with an `xmlUrl`; enclosing outlines without one (folders) and the outline's
    `category` attribute become its tags."""
    try:
        root = safe_xml.fromstring(data)
    except (safe_xml.ParseError, DefusedXmlException) as exc:
        raise OpmlError(f"not OPML: {exc}") from None
    if root.tag.lower() != "opml" or root.find("body") is None:
        raise OpmlError("not OPML: no <opml><body>")
    found: dict[str, FeedEntry] = {}
    _walk(root.find("body"), (), found)
    return list(found.values())


def _walk(node: Element | None, folders: tuple[str, ...], found: dict[str, FeedEntry]) -> None:
    for outline in [] if node is None else node.findall("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        name = (outline.get("title") or outline.get("text") or "").strip()
        if url.startswith(("http://", "https://")):
            tags = tuple(dict.fromkeys([*folders, *categories(outline.get("category") or "")]))
            found.setdefault(url, FeedEntry(url, name, tags))
        _walk(outline, (*folders, name) if name and not url else folders, found)


def categories(attribute: str) -> list[str]:
    """Tags from OPML 2.0's `category`: comma-separated, each a tag or a slash-delimited path
    (`/Boston/Weather`), kept without its outer slashes."""
    return [text for part in attribute.split(",") if (text := part.strip().strip("/").strip())]


def to_opml(feeds: Iterable[FeedEntry], title: str = "wirewatch feeds") -> bytes:
    root = Element("opml", version="2.0")
    SubElement(SubElement(root, "head"), "title").text = title
    body = SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "text": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.name:
            attrs["title"] = feed.name
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        SubElement(body, "outline", attrs)
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def discover_feeds(html: bytes, base_url: str) -> list[str]:
    """Absolute URLs of the feeds a page announces with `<link rel="alternate" type=...>`."""
    if not html.strip():
        return []
    try:
        document = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    urls: list[str] = []
    for link in document.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rels and kind in FEED_TYPES and href:
            urls.append(urljoin(base_url, href))
    return list(dict.fromkeys(urls))
