"""Which publication time an article carries, and where it came from (feed, page, guess)."""

from __future__ import annotations

import html

import lxml.html  # type: ignore[import-untyped]
import pytest

from worker.extraction.published import (
    choose_published,
    exact_timestamp,
    page_timestamp,
)
from worker.pipeline.article import from_feed, from_page
from worker.records import Article, FeedItem

PARAGRAPHS = [
    "NATO ministers met in Brussels on Tuesday to discuss the alliance's eastern flank.",
    "The talks ran late into the evening, officials said, and will resume in the spring.",
    "Several delegations asked for more air defence systems before the end of the year.",
] * 3


def article_page(head: str = "", footer: str = "") -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in PARAGRAPHS)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Summit</title>{head}"
        f"</head><body><article><h1>Summit</h1>{body}</article><footer>{footer}</footer>"
        "</body></html>"
    ).encode()


def item(published_at: str = "") -> FeedItem:
    return FeedItem("https://ex.com/feed", "Ex", "guid-1", "https://ex.com/a", "Summit",
                    published_at=published_at)  # fmt: skip


def page_article(feed_time: str, head: str = "", footer: str = "") -> Article:
    return from_page(item(feed_time), article_page(head, footer), "https://ex.com/a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T23:28:00Z", "2026-12-01T23:28:00Z"),
        ("2026-12-01T23:28:00+00:00", "2026-12-01T23:28:00Z"),
        ("2026-12-02T00:28:00+01:00", "2026-12-01T23:28:00Z"),
        ("2026-12-01T23:28:00.123456Z", "2026-12-01T23:28:00Z"),
        ("2026-12-01", ""),  # a day alone is not exact
        ("2026-12-01T23:28:00", ""),  # nor a local time of unknown zone
        ("yesterday", ""),
        ("", ""),
    ],
)
def test_exact_timestamps(text: str, expected: str) -> None:
    assert exact_timestamp(text) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<meta property="article:published_time" content="2026-12-01T23:28:00+00:00">',
         "2026-12-01T23:28:00Z"),
        ('<meta name="date" content="2026-12-01"><meta itemprop="datePublished" '
         'content="2026-12-01T10:00:00-05:00">', "2026-12-01T15:00:00Z"),
        ('<script type="application/ld+json">{"@graph": [{"@type": "WebPage"}, '
         '{"@type": "NewsArticle", "datePublished": "2026-12-01T23:28:00Z"}]}</script>',
         "2026-12-01T23:28:00Z"),
        ('<script type="application/ld+json">{not json</script>', ""),
        ('<meta name="date" content="2026-12-01">', ""),
        ("", ""),
    ],
)  # fmt: skip
def test_page_timestamp_from_metadata(head: str, expected: str) -> None:
    tree = lxml.html.fromstring(article_page(head))
    assert page_timestamp(tree) == expected


def test_a_time_element_marked_as_the_publication_time() -> None:
    marked = '<time itemprop="datePublished" datetime="2026-12-01T23:28:00Z">1 Dec</time>'
    other = '<time datetime="2020-01-01T00:00:00Z">an older event</time>'
    tree = lxml.html.fromstring(f"<html><body>{other}<p>x</p>{marked}</body></html>")
    assert page_timestamp(tree) == "2026-12-01T23:28:00Z"


def test_choice_order_feed_then_page_then_guess() -> None:
    feed, page = "2026-12-01T23:28:00+00:00", "2026-12-01T20:00:00Z"
    assert choose_published(feed, page, "2022-01-01") == ("2026-12-01T23:28:00Z", "feed")
    assert choose_published("", page, "2022-01-01") == (page, "page")
    assert choose_published("", "", "2022-01-01") == ("2022-01-01", "guess")
    assert choose_published("", "", "") == ("", "")


def test_the_feeds_timestamp_keeps_its_time_of_day_over_a_copyright_footer_guess() -> None:
    article = page_article("2026-12-01T23:28:00+00:00", footer="© 2022 Example News")
    assert (article.published_at, article.published_at_source) == ("2026-12-01T23:28:00Z", "feed")
    assert article.payload()["published_at_source"] == "feed"


def test_page_metadata_with_a_time_when_the_feed_has_none() -> None:
    head = '<meta property="article:published_time" content="2026-11-30T08:15:00+01:00">'
    article = page_article("", head=head, footer="© 2022 Example News")
    assert (article.published_at, article.published_at_source) == ("2026-11-30T07:15:00Z", "page")


def test_without_feed_or_page_time_a_guess_is_said_to_be_one() -> None:
    article = page_article("", footer="Copyright © 2022 Example News")
    assert article.published_at_source == "guess", "trafilatura's day from the footer"
    assert len(article.published_at) == len("2022-01-01"), "a day, never a made-up time"


def test_an_article_from_the_feed_alone_says_the_feed() -> None:
    article = from_feed(item("2026-12-01T23:28:00+00:00"), "no article link")
    assert article.payload()["published_at"] == "2026-12-01T23:28:00Z"
    assert article.payload()["published_at_source"] == "feed"
    undated = from_feed(item(), "no article link").payload()
    assert (undated["published_at"], undated["published_at_source"]) == (None, None)
