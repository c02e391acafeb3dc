"""`POST /api/v1/match`: does a query or watchlist match a text, HTML page or URL, and why."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from worker.errors import FetchError, QueryError
from worker.fetching import Fetcher
from worker.pipeline.documents import document_from_text
from worker.rules import Document
from worker.web.context import WebContext, compiled
from worker.web.deps import Context, Reader
from worker.web.errors import ApiError, query_problem
from worker.web.schemas import Hit, MatchRequest, MatchResult

router = APIRouter(prefix="/api/v1", tags=["matching"])
INLINE_TEXT_MAX = 20_000  # characters; matching a 10 KB text costs about 1 ms of CPU
INLINE_QUERY_MAX = 2_000  # characters; an uncached query is compiled too


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
async def match(ctx: Context, _token: Reader, body: MatchRequest) -> Response:
    """As `wirewatch match`: plain text (first line is the title), HTML (extracted as the
    worker would) or a URL (fetched with the configured limits)."""
    if inline(body):
        answer = match_json(ctx, body)
    else:
        answer = await run_in_threadpool(match_json, ctx, body)
    return Response(answer, media_type="application/json")


def inline(body: MatchRequest) -> bool:
    """Whether to match on the event loop: a query (no Redis read for a watchlist) on a plain
    text short enough to cost about a millisecond, where handing it to a worker thread and back
    costs as much as the work. HTML (extraction), a URL (a blocking fetch) and longer texts or
    queries go to a thread, so that one big request never holds up the others."""
    return (
        body.query is not None
        and len(body.query) <= INLINE_QUERY_MAX
        and body.text is not None
        and len(body.text) <= INLINE_TEXT_MAX
        and body.html is None
        and body.url is None
    )


def match_json(ctx: WebContext, body: MatchRequest) -> str:
    """The answer, serialised here: FastAPI would validate the result against the model again
    first. ApiError for a query that does not parse, an unknown watchlist or a failed fetch."""
    return _match(ctx, body).model_dump_json()


def _match(ctx: WebContext, body: MatchRequest) -> MatchResult:
    rule, query = _query(ctx, body)
    try:
        matcher = compiled(query)
    except QueryError as exc:
        raise query_problem(exc) from None
    hits = matcher.hits("query", _document(ctx, body))
    return MatchResult(matched=bool(hits), rule=rule, hits=[Hit(**h.as_dict()) for h in hits])
