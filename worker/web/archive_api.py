"""`GET /api/v1/search` and `POST /api/v1/backtest`: the archive's commands over HTTP.

They answer exactly as `wirewatch search` and `wirewatch backtest` (worker/archive/search.py):
the archive's full-text index narrows the candidates, the project's matcher decides. The
archive is opened per request and closed after it (SQLite in WAL mode lets a reader beside the
archiver's writer; a connection is never shared between the server's threads).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter

from worker.archive.search import backtest, search
from worker.archive.store import ArchiveStore, open_archive
from worker.errors import QueryError
from worker.units import parse_duration
from worker.web.context import WebContext
from worker.web.deps import Context, Reader
from worker.web.errors import ApiError, query_problem
from worker.web.schemas import BacktestRequest

router = APIRouter(prefix="/api/v1", tags=["archive"])
_MAX_LIMIT = 200


@contextmanager
def archive(ctx: WebContext) -> Iterator[ArchiveStore]:
    if not ctx.settings.archive.enabled:
        raise ApiError(404, "archive_disabled", "the archive is off (archive.enabled)")
    store = open_archive(ctx.settings.archive, ctx.settings.data_dir)
    try:
        yield store
    finally:
        store.close()


def since_of(text: str) -> float:
    """A look-back such as `7d` as the unix time it starts at."""
    try:
        span = parse_duration(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_since", str(exc)) from None
    return time.time() - span


@router.get("/search")
def search_archive(
    ctx: Context,
    _token: Reader,
    q: str,
    since: str = "7d",
    watchlist: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """As `wirewatch search`: the newest archived articles the query matches, with snippets."""
    if not 1 <= limit <= _MAX_LIMIT:
        raise ApiError(422, "invalid_limit", f"limit must be 1 to {_MAX_LIMIT}")
    start = since_of(since)
    with archive(ctx) as store:
        try:
            return search(store, q, start, watchlist=watchlist, limit=limit).as_dict()
        except QueryError as exc:
            raise query_problem(exc) from None


@router.post("/backtest")
def backtest_archive(ctx: Context, _token: Reader, body: BacktestRequest) -> dict[str, Any]:
    """As `wirewatch backtest`: per day, the matching articles and stories; the alerts it would
    have sent (one per story); sample hits; with `against`, the stories gained and lost."""
    query = body.query
    if (body.query is None) == (body.watchlist is None):
        raise ApiError(422, "invalid_request", "give exactly one of query and watchlist")
    if body.watchlist is not None:
        query = ctx.watchlist_query(body.watchlist)
        if query is None:
            raise ApiError(404, "not_found", f"no watchlist {body.watchlist!r}")
    assert query is not None
    start = since_of(body.since)
    with archive(ctx) as store:
        try:
            result = backtest(store, query, start, against=body.against, samples=body.samples)
        except QueryError as exc:
            raise query_problem(exc) from None
    return result.as_dict()
