"""A text, an HTML page or a fetched URL as the rules see it, for `wirewatch match` and the
API's `POST /api/v1/match` (the worker builds its documents from articles: process.py)."""

from __future__ import annotations

from worker.errors import ExtractionError
from worker.extraction import extract_article
from worker.rules import Document


def looks_like_html(text: str) -> bool:
    head = text[:2048].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head


def document_from_text(text: str, url: str = "") -> Document:
    """Plain text: first line is the title. HTML: extracted as the worker would, with its
    author, language and site (for `author:`, `lang:`, `site:`); a URL also gives the site."""
    if looks_like_html(text):
        try:
            page = extract_article(text, url or "http://localhost/")
        except ExtractionError:
            pass
        else:
            site = url or page.site
            return Document(page.title, page.text, site, (), page.author, page.language)
    title, _, body = text.strip().partition("\n")
    return Document(title=title.strip(), body=body, site=url)
