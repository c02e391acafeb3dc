"""`POST /api/v1/match`: does a query or watchlist match a text, HTML page or URL, and why."""

from __future__ import annotations

from fastapi import APIRouter

from worker.errors import FetchError, QueryError
from worker.fetching import Fetcher
from worker.pipeline.documents import document_from_text
from worker.rules import Document
from worker.web.context import WebContext, compiled
from worker.web.deps import Context, Reader
from worker.web.errors import ApiError, query_problem
from worker.web.schemas import Hit, MatchRequest, MatchResult

router = APIRouter(prefix="/api/v1", tags=["matching"])


def _query(ctx: WebContext, body: MatchRequest) -> tuple[str, str]:
    if (body.query is None) == (body.watchlist is None):
        raise ApiError(422, "invalid_request", "give exactly one of query and watchlist")
    if body.query is not None:
        return "query", body.query
    assert body.watchlist is not None
    query = ctx.watchlist_query(body.watchlist)
    if query is None:
        raise ApiError(404, "not_found", f"no watchlist {body.watchlist!r}")
    return body.watchlist, query


def _fetch(ctx: WebContext, url: str) -> tuple[str, str]:
    """A URL from a caller is untrusted: private addresses only when the config allows them."""
    from worker.config.policies import fetch_limits

    if not url.startswith(("http://", "https://")):
        raise ApiError(422, "invalid_url", "url must start with http:// or https://")
    fetcher = Fetcher(fetch_limits(ctx.settings))
    try:
        result = fetcher.fetch(url, trusted=False)
    except FetchError as exc:
        raise ApiError(422, "fetch_failed", f"{exc.reason}: {exc}") from None
    finally:
        fetcher.close()
    return result.body.decode("utf-8", errors="replace"), result.url


def _document(ctx: WebContext, body: MatchRequest) -> Document:
    given = [v for v in (body.text, body.html, body.url) if v is not None]
    if len(given) != 1:
        raise ApiError(422, "invalid_request", "give exactly one of text, html and url")
    if body.url is not None:
        return document_from_text(*_fetch(ctx, body.url))
    return document_from_text(given[0])


@router.post("/match", response_model=MatchResult)
def match(ctx: Context, _token: Reader, body: MatchRequest) -> MatchResult:
    """As `wirewatch match`: plain text (first line is the title), HTML (extracted as the
    worker would) or a URL (fetched with the configured limits)."""
    rule, query = _query(ctx, body)
    try:
        matcher = compiled(query)
    except QueryError as exc:
        raise query_problem(exc) from None
    hits = matcher.match(_document(ctx, body)).get("query", [])
    return MatchResult(matched=bool(hits), rule=rule, hits=[Hit(**h.as_dict()) for h in hits])
