"""When an article was published, and how sure we are of it.

Three sources, from the most exact and trustworthy to the least:

- `feed`: the entry's own timestamp in the feed (feedparser gives it to the second, in UTC);
- `page`: a timestamp with a time of day and a zone in the page's metadata (Open Graph
  `article:published_time`, schema.org `datePublished` in JSON-LD or microdata, `<meta
  name="pubdate">` and its kin, `<time datetime>` marked as the publication time);
- `guess`: trafilatura's date (htmldate), a day without a time, which on a page without date
  metadata may come from a copyright footer or the URL.

A timestamp is written as ISO-8601 UTC to the second (`2026-12-01T23:28:00Z`); a guess as a
day (`2026-12-01`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

FEED, PAGE, GUESS = "feed", "page", "guess"

# <meta> property/name/itemprop values that name the publication time, lower case.
_META_NAMES = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.created",
    "sailthru.date",
    "parsely-pub-date",
)
_JSON_LD_MAX_CHARS = 200_000  # a page's structured data; anything longer is not worth parsing


def exact_timestamp(text: str | None) -> str:
    """`text` as ISO-8601 UTC to the second when it is a timestamp with a time of day and a
    zone; "" otherwise (a day alone, or a local time of unknown zone, is not exact)."""
    value = (text or "").strip()
    if len(value) <= len("2026-12-01"):
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def page_timestamp(tree: Any) -> str:
    """The first exact publication timestamp in a page's metadata (an lxml HTML tree), or ""."""
    for candidate in _candidates(tree):
        found = exact_timestamp(candidate)
        if found:
            return found
    return ""


def choose_published(feed_value: str, page_value: str, guessed_day: str) -> tuple[str, str]:
    """(published_at, its source): the feed's timestamp, else the page's, else the guess."""
    for value, source in ((exact_timestamp(feed_value), FEED), (page_value, PAGE)):
        if value:
            return value, source
    if guessed_day:
        return guessed_day, GUESS
    return "", ""


def _candidates(tree: Any) -> Iterator[str]:
    yield from _meta_values(tree)
    yield from _json_ld_values(tree)
    for element in tree.iter("time"):
        marked = (element.get("itemprop") or "").lower() == "datepublished"
        if marked or element.get("pubdate") is not None:
            yield element.get("datetime") or ""


def _meta_values(tree: Any) -> Iterator[str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = (meta.get("content") or "").strip()
        for attribute in ("property", "name", "itemprop"):
            key = (meta.get(attribute) or "").strip().lower()
            if key in _META_NAMES and content:
                found.setdefault(key, content)
    yield from (found[name] for name in _META_NAMES if name in found)


def _json_ld_values(tree: Any) -> Iterator[str]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        text = script.text or ""
        if len(text) > _JSON_LD_MAX_CHARS:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            continue
        yield from _date_published(data, depth=0)


def _date_published(node: Any, depth: int) -> Iterator[str]:
    """`datePublished` values anywhere in JSON-LD (top level, `@graph`, nested), shallow first."""
    if depth > 6:
        return
    if isinstance(node, list):
        for child in node:
            yield from _date_published(child, depth + 1)
    elif isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            yield value
        for key, child in node.items():
            if key != "datePublished" and isinstance(child, (dict, list)):
                yield from _date_published(child, depth + 1)
