"""A page's title, author and date guess, each computed only when the caller needs it.

trafilatura's `extract_metadata` always computes every field it knows (categories, tags, license,
site name, ...): on the article corpus that is about a third of the worker's time per page, and the
worker uses only the title, the author and the date guess, and of those only the ones its feed entry
lacks. This module runs the same steps as trafilatura 2.x's `extract_metadata` for those three
fields, in the same order (so the results are the same: tests/unit/test_extraction.py checks them
against `bare_extraction(with_metadata=True)` on corpus pages), and skips a step whose field is not
wanted. The steps are trafilatura's own public functions in `trafilatura.metadata`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html import unescape
from typing import Any

from htmldate import find_date
from trafilatura.metadata import (
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_title,
    extract_url,
)
from trafilatura.settings import set_date_params
from trafilatura.utils import line_processing

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    """Which of the page's metadata fields the caller still needs."""

    title: bool = True
    author: bool = True
    date: bool = True

    @property
    def anything(self) -> bool:
        return self.title or self.author or self.date


@dataclass(frozen=True)
class PageMetadata:
    title: str = ""
    author: str = ""
    date: str = ""  # htmldate's guess, "YYYY-MM-DD", or ""


def page_metadata(tree: Any, url: str, wanted: Wanted) -> PageMetadata:
    """The wanted fields of an lxml HTML tree (not modified: trafilatura's steps copy what they
    prune); a field not wanted is ""."""
    if not wanted.anything:
        return PageMetadata()
    # The <meta> and JSON-LD pass feeds all three fields (the date needs its URL), so it runs first.
    found = examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None  # as trafilatura does: a one-word "author" is a handle, not a name
    try:
        found = extract_meta_json(tree, found)
    except Exception as exc:  # trafilatura guards its own JSON-LD parser the same way
        _LOG.debug("JSON-LD metadata unreadable, ignored: %s", exc)
    title = (found.title or extract_title(tree)) if wanted.title else None
    author = (found.author or extract_author(tree)) if wanted.author else None
    date = _date_guess(tree, found.url or extract_url(tree, url)) if wanted.date else None
    return PageMetadata(_trimmed(title), _trimmed(author), _trimmed(date))


def _date_guess(tree: Any, url: str | None) -> str | None:
    params = set_date_params(extensive=True)  # trafilatura's default (EXTENSIVE_DATE_SEARCH = on)
    params["url"] = url
    return find_date(tree, **params)


def _trimmed(value: str | None) -> str:
    """trafilatura's `Document.clean_and_trim` for one field: bounded, unescaped, one line."""
    if not value:
        return ""
    if len(value) > 10000:
        value = value[:9999] + "…"
    return (line_processing(unescape(value)) or "").strip()
