"""Title, author and publication time: the feed entry's where it has usable ones, the page's
where it does not (the page is then asked for them, and only for them)."""

from __future__ import annotations

import html

import pytest

from worker.pipeline.article import feed_text, from_page
from worker.records import FeedItem

PARAGRAPHS = [
    "NATO ministers met in Brussels on Tuesday to discuss the alliance's eastern flank.",
    "The talks ran late into the evening, officials said, and will resume in the spring.",
    "Several delegations asked for more air defence systems before the end of the year.",
] * 3
PAGE_HEAD = (
    '<meta name="author" content="Page Author">'
    '<meta property="article:published_time" content="2026-11-30T08:15:00+01:00">'
)


def article_page() -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in PARAGRAPHS)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Page Title</title>"
        f"{PAGE_HEAD}</head><body><article><h1>Page Title</h1>{body}</article>"
        "<footer>© 2022 Example News</footer></body></html>"
    ).encode()


def entry(
    title: str = "", author: str = "", published_at: str = "", trimmed: dict[str, int] | None = None
) -> FeedItem:
    return FeedItem("https://ex.com/feed", "Ex", "guid-1", "https://ex.com/a", title,
                    author=author, published_at=published_at, trimmed=trimmed or {})  # fmt: skip


def test_the_feeds_title_author_and_time_win_over_the_pages() -> None:
    item = entry("Feed Title", "Feed Author", "2026-12-01T23:28:00+00:00")
    article = from_page(item, article_page(), "https://ex.com/a")
    assert (article.title, article.author) == ("Feed Title", "Feed Author")
    assert (article.published_at, article.published_at_source) == ("2026-12-01T23:28:00Z", "feed")
    assert "Brussels" in article.text and "2022" not in article.text


def test_what_the_feed_lacks_comes_from_the_page() -> None:
    article = from_page(entry(), article_page(), "https://ex.com/a")
    assert (article.title, article.author) == ("Page Title", "Page Author")
    assert (article.published_at, article.published_at_source) == ("2026-11-30T07:15:00Z", "page")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        # each field on its own: the others come from the page
        (entry(title="Feed Title"), ("Feed Title", "Page Author", "2026-11-30T07:15:00Z")),
        (entry(author="Feed Author"), ("Page Title", "Feed Author", "2026-11-30T07:15:00Z")),
        (entry(published_at="2026-12-01T23:28:00Z"),
         ("Page Title", "Page Author", "2026-12-01T23:28:00Z")),
        # not usable: blank, no word, cut to fit the queue, a day without a time, not a date
        (entry(title="   ", author=" — "), ("Page Title", "Page Author", "2026-11-30T07:15:00Z")),
        (entry(title="Feed Ti", trimmed={"title": 400}),
         ("Page Title", "Page Author", "2026-11-30T07:15:00Z")),
        (entry(published_at="2026-12-01"), ("Page Title", "Page Author", "2026-11-30T07:15:00Z")),
        (entry(published_at="last Tuesday"),
         ("Page Title", "Page Author", "2026-11-30T07:15:00Z")),
    ],
)  # fmt: skip
def test_each_field_from_the_feed_only_when_usable(
    item: FeedItem, expected: tuple[str, str, str]
) -> None:
    article = from_page(item, article_page(), "https://ex.com/a")
    assert (article.title, article.author, article.published_at) == expected


def test_a_page_without_metadata_keeps_the_feeds_even_if_unusable() -> None:
    """The trimmed feed title is still better than none when the page has no title either."""
    bare = b"<html><body><div>" + b"".join(f"<p>{p}</p>".encode() for p in PARAGRAPHS) + b"</div>"
    item = entry(title="Feed Ti", trimmed={"title": 400})
    article = from_page(item, bare + b"</body></html>", "https://ex.com/a")
    assert article.title == "Feed Ti"


@pytest.mark.parametrize(
    ("value", "trimmed", "expected"),
    [("  Feed Title ", {}, "Feed Title"), ("", {}, ""), ("...", {}, ""),
     ("Feed Ti", {"title": 400}, "")],
)  # fmt: skip
def test_feed_text(value: str, trimmed: dict[str, int], expected: str) -> None:
    assert feed_text(entry(title=value, trimmed=trimmed), "title") == expected
