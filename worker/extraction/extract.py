"""Article extraction: a fetched page's HTML to its main text and metadata (with trafilatura).

Also the two text helpers the worker needs around it: a fingerprint for exact-duplicate detection
and a plain-text rendering of the feed's own HTML, for when the page cannot be used.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# lxml ships no type information (lxml-stubs is not a dependency): its objects are Any here.
import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]
from trafilatura import bare_extraction, load_html

from worker.errors import ExtractionError
from worker.extraction.canonical import choose_canonical
from worker.extraction.decode import decode_html
from worker.extraction.metadata import Wanted, page_metadata
from worker.extraction.published import page_timestamp

EVERYTHING = Wanted()


@dataclass(frozen=True)
class ExtractedPage:
    """What a page yields: the text rules run against, and the metadata alerts carry."""

    title: str
    text: str
    author: str
    published_at: str  # trafilatura's guess: an ISO-8601 date ("2024-05-01") or ""
    language: str  # primary language subtag ("en", "de") or ""
    canonical_url: str
    site: str  # host of canonical_url without "www."
    published_time: str = ""  # exact timestamp from the page's metadata (published.py) or ""


def extract_article(
    html: bytes | str,
    url: str,
    *,
    transport_charset: str | None = None,
    wanted: Wanted = EVERYTHING,
) -> ExtractedPage:
    """Extract the main article of a page fetched from `url`.

    `transport_charset` is the charset of the HTTP Content-Type, when the server sent one; it
    outranks the page's own `<meta charset>`. `wanted` names the metadata the caller still needs
    (what its feed entry lacks): a field not wanted is not looked for and comes back "" (for the
    date: both `published_time` and `published_at`). Raises ExtractionError when the input is not
    HTML or holds no article text.
    """
    text = decode_html(html, transport_charset) if isinstance(html, bytes) else html
    tree = load_html(text) if _TAG.search(text, 0, _TAG_SCAN_CHARS) else None
    if tree is None:
        raise ExtractionError(f"not an HTML page: {url}")
    # Everything read from the raw tree is read before trafilatura works on it.
    published_time = page_timestamp(tree) if wanted.date else ""
    metas = meta_contents(tree)
    canonical = choose_canonical(url, declared_canonical(tree, metas))
    language = page_language(tree, metas)
    metadata = page_metadata(tree, url, wanted)
    # with_metadata=False: trafilatura's own metadata pass computes fields the worker never uses
    # (categories, tags, license, ...) and ones its feed already gave; page_metadata computes the
    # wanted ones alone. fast=True skips trafilatura's fallback extractors (readability, jusText):
    # on the article corpus (bench/extraction.py) that gives the same or better token F1 at ~2x
    # lower p99 time.
    document = bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, fast=True
    )
    fields = _as_dict(document)
    body = (fields.get("text") or "").strip()
    if not _WORD.search(body):
        raise ExtractionError(f"no article text found: {url}")
    return ExtractedPage(
        title=metadata.title,
        text=body,
        author=metadata.author,
        published_at=metadata.date,
        language=language,
        canonical_url=canonical,
        site=site_of(canonical),
        published_time=published_time,
    )


# Any page has a tag near its top; a JSON body or plain text mentioning "html" (which would pass
# trafilatura's own check) has none.
_TAG = re.compile(r"<[A-Za-z!?][^<>]*>")
_TAG_SCAN_CHARS = 65536


def _as_dict(document: Any) -> dict[str, Any]:
    """trafilatura 2.x returns a Document (1.x a dict), or None when it found nothing."""
    if document is None:
        return {}
    if isinstance(document, dict):
        return document
    return dict(document.as_dict())


def declared_canonical(
    tree: lxml.html.HtmlElement, metas: Mapping[str, str] | None = None
) -> str | None:
    """The URL the page declares as its own: `<link rel=canonical>`, else `og:url`.
    (`metas`: the page's `meta_contents`, when the caller has them already.)"""
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels and (link.get("href") or "").strip():
            return str(link.get("href")).strip()
    return (meta_contents(tree) if metas is None else metas).get("og:url")


def page_language(tree: lxml.html.HtmlElement, metas: Mapping[str, str] | None = None) -> str:
    """The page's declared language: `<html lang>`, else og:locale, else Content-Language."""
    found = meta_contents(tree) if metas is None else metas
    candidates = (
        tree.get("lang"),
        tree.get("xml:lang"),  # XHTML; lxml's HTML parser keeps the prefix in the name
        found.get("og:locale"),
        found.get("content-language"),
    )
    for candidate in candidates:
        language = primary_language(candidate)
        if language:
            return language
    return ""


_LANGUAGE_TAG = re.compile(r"\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*(?:[,;]|$)")


def primary_language(tag: str | None) -> str:
    """`de-DE`, `en_GB`, `EN` -> `de`, `en`, `en`; the first of a list; "" if not a language."""
    match = _LANGUAGE_TAG.match(tag or "")
    return match.group(1).lower() if match else ""


def meta_contents(tree: lxml.html.HtmlElement) -> dict[str, str]:
    """Each name a `<meta>` carries (property, name or http-equiv, lower case) -> the content of
    the first such `<meta>` with a non-empty content: one pass for every lookup of a page."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = (meta.get("content") or "").strip()
        if not content:
            continue
        for key in (meta.get("property"), meta.get("name"), meta.get("http-equiv")):
            if key:
                found.setdefault(key.strip().lower(), content)
    return found


def site_of(url: str) -> str:
    """The host name of `url` without a leading `www.`, for `site:` queries."""
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.")


_WORD = re.compile(r"\w", re.UNICODE)
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


def text_fingerprint(text: str) -> str:
    """sha256 hex of `text` with case, whitespace and punctuation differences folded away.

    NFKC first so that full-width forms and ligatures compare equal to their plain spelling; every
    run of non-word characters (spaces, quotes of any style, dashes) becomes one space.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    normalised = _SEPARATORS.sub(" ", folded).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


# Elements whose boundaries separate words: without a break "<p>a</p><p>b</p>" would read "ab".
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "object")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")


def text_from_feed_html(html: str) -> str:
    """Plain text of a feed entry's HTML content or summary (the fallback when a page fails).

    Scripts and styles are dropped; blocks end up on lines of their own and all other whitespace
    is collapsed to single spaces, the same shape as extracted page text.
    """
    if not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return ""
    lxml.etree.strip_elements(root, *_DROPPED_TAGS, with_tail=False)
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    text = _SPACES.sub(" ", root.text_content())
    return _BLANK_LINES.sub("\n", text).strip()
