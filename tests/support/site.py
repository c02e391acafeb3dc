"""A small news site for end-to-end tests: article pages, an RSS feed, a webhook receiver."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from tests.support.corpus import require_corpus
from tests.support.httpserver import LocalServer, Request, Response

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def article_html(title: str, paragraphs: list[str], canonical: str = "") -> bytes:
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p.strip())
    link = f'<link rel="canonical" href="{html.escape(canonical)}">' if canonical else ""
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title>{link}</head><body><nav>Home | World | Sport</nav><article>"
        f"<h1>{html.escape(title)}</h1>{body}</article><footer>© Test News</footer></body></html>"
    )
    return page.encode("utf-8")


def seed_article() -> tuple[str, list[str]]:
    lines = (
        require_corpus("seed", "nato-taiwan-olympics.txt").read_text(encoding="utf-8").splitlines()
    )
    return lines[0], lines[1:]


@dataclass
class FeedEntry:
    guid: str
    title: str
    link: str
    summary: str = ""


def rss(entries: list[FeedEntry], title: str = "Test News") -> bytes:
    when = format_datetime(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    items = "".join(
        f"<item><guid>{html.escape(e.guid)}</guid><title>{html.escape(e.title)}</title>"
        f"<link>{html.escape(e.link)}</link><description>{html.escape(e.summary)}</description>"
        f"<pubDate>{when}</pubDate></item>"
        for e in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>http://example.invalid/</link><description>t</description>{items}"
        "</channel></rss>"
    ).encode()


@dataclass
class Receiver:
    """A webhook endpoint whose answers are scripted: a list of statuses, then `then`."""

    statuses: list[int] = field(default_factory=list)
    then: int = 200
    received: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.received.append(request)
            status = self.statuses.pop(0) if self.statuses else self.then
        return Response(status, b"ok" if status < 300 else b"no")


def mount_seed_site(server: LocalServer) -> dict[str, str]:
    """The reference article, an Olympics-only story and an unrelated one, and their feed."""
    title, paragraphs = seed_article()
    server.route("/news/putin-xi", Response(200, article_html(title, paragraphs), html_headers()))
    olympics = [
        "The Winter Olympics opened in Beijing on Friday with a ceremony in the national stadium.",
        "Athletes from ninety nations marched in the parade as fireworks lit the sky overhead.",
        "Organisers said the Games would run for sixteen days across three competition zones.",
    ] * 3
    server.route(
        "/sport/olympics", Response(200, article_html("Games open", olympics), html_headers())
    )
    weather = ["A senator from Donato county said the weather will be mild this weekend."] * 6
    server.route(
        "/local/weather", Response(200, article_html("Mild weekend", weather), html_headers())
    )
    entries = [
        FeedEntry("seed-1", title, server.url("/news/putin-xi?utm_source=rss")),
        FeedEntry("seed-2", "Games open", server.url("/sport/olympics")),
        FeedEntry("seed-3", "Mild weekend", server.url("/local/weather")),
    ]
    server.route("/feed.xml", Response(200, rss(entries), {"Content-Type": "application/rss+xml"}))
    return {"feed": server.url("/feed.xml")}


def html_headers() -> dict[str, str]:
    return {"Content-Type": "text/html; charset=utf-8"}
