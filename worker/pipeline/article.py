"""Item -> Article: fetch the page and extract it, or fall back to the feed's own text.

The fallback is recorded on the article (`source`, `fallback_reason`) so a user can see why an
alert quotes the feed summary instead of the page.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from worker.errors import BlockedAddressError, ExtractionError, FetchError
from worker.extraction import canonical_url, extract_article, text_from_feed_html
from worker.extraction.metadata import Wanted
from worker.extraction.published import choose_published, exact_timestamp
from worker.fetching import Fetcher, FetchResult
from worker.fetching.politeness import HostGate
from worker.observability.metrics import METRICS
from worker.pipeline.refusals import RefusedHosts
from worker.records import Article, FeedItem

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def host_of(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def from_feed(item: FeedItem, reason: str) -> Article:
    """The article as the feed itself describes it, when the page is not usable."""
    text = text_from_feed_html(item.content or item.summary)
    url = canonical_url(item.link) if item.link else ""
    published_at, published_source = choose_published(item.published_at, "", "")
    return Article(
        url=item.link,
        canonical_url=url,
        title=item.title,
        text=text,
        author=item.author,
        published_at=published_at,
        published_at_source=published_source,
        site=host_of(item.link),
        feed_url=item.feed_url,
        feed_name=item.feed_name,
        feed_tags=list(item.tags),
        configured_tags=list(item.feed_tags),
        source="feed",
        fallback_reason=reason,
    )


_WORD = re.compile(r"\w")


def feed_text(item: FeedItem, name: str) -> str:
    """The entry's `title` or `author` when it can stand for the page's: present, holding a
    word, and whole (not cut to fit scheduler.max_item_bytes); "" otherwise."""
    value = str(getattr(item, name)).strip()
    if name in item.trimmed or not _WORD.search(value):
        return ""
    return value


def from_page(item: FeedItem, html: bytes, final_url: str) -> Article:
    """The article from its page, with the title, author and publication time of the feed entry
    where the entry has usable ones: the page is asked only for what the entry lacks (trafilatura's
    metadata pass was a third of the worker's time per article, bench/worker_throughput.py)."""
    title, author = feed_text(item, "title"), feed_text(item, "author")
    feed_time = exact_timestamp(item.published_at)
    wanted = Wanted(title=not title, author=not author, date=not feed_time)
    page = extract_article(html, final_url, wanted=wanted)
    published_at, published_source = choose_published(
        feed_time, page.published_time, page.published_at
    )
    return Article(
        url=item.link,
        canonical_url=page.canonical_url,
        title=title or page.title or item.title,
        text=page.text,
        author=author or page.author or item.author,
        published_at=published_at,
        published_at_source=published_source,
        language=page.language,
        site=page.site or host_of(final_url),
        feed_url=item.feed_url,
        feed_name=item.feed_name,
        feed_tags=list(item.tags),
        configured_tags=list(item.feed_tags),
    )


class PoliteFetcher:
    """Article pages fetched within each host's politeness limits, the same ones the scheduler
    keeps for feeds: a site sees one budget for its feed and its pages, from every process."""

    def __init__(
        self,
        fetcher: Fetcher,
        gate: HostGate | None,
        max_wait_s: float,
        refusals: RefusedHosts | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.gate = gate
        self.max_wait_s = max_wait_s
        self.refusals = refusals

    def page(self, url: str) -> FetchResult:
        try:
            if self.gate is None:
                return self.fetcher.fetch(url, trusted=False)
            with self.gate.hold(url, self.max_wait_s):
                return self.fetcher.fetch(url, trusted=False)
        except BlockedAddressError as exc:
            if self.refusals is not None:
                self.refusals.note(url, exc)
            raise


def build_article(item: FeedItem, pages: PoliteFetcher) -> Article:
    if not item.link.startswith(("http://", "https://")):
        return from_feed(item, "no article link")
    try:
        with METRICS.timed("wirewatch_fetch_duration_seconds"):
            result = pages.page(item.link)
    except FetchError as exc:
        return from_feed(item, f"fetch failed: {exc}")
    content_type = result.headers.get("content-type", "text/html").lower()
    if not content_type.startswith(_HTML_TYPES):
        return from_feed(item, f"page is {content_type.split(';')[0]}, not HTML")
    try:
        with METRICS.timed("wirewatch_extraction_duration_seconds"):
            return from_page(item, result.body, result.url)
    except ExtractionError as exc:
        return from_feed(item, f"extraction failed: {exc}")
