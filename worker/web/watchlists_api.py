"""`/api/v1/watchlists`: list, create, replace, delete, versions; config ones are read-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from worker.errors import QueryError
from worker.pipeline.apiwatchlists import ApiWatchlist
from worker.rules import parse_query
from worker.web.context import ConfigWatchlist, WebContext
from worker.web.deps import Context, Reader, Writer
from worker.web.errors import ApiError, query_problem
from worker.web.schemas import (
    SLUG_PATTERN,
    FeedLinks,
    Watchlist,
    WatchlistCreate,
    WatchlistFields,
    WatchlistVersion,
)

router = APIRouter(prefix="/api/v1/watchlists", tags=["watchlists"])
IdPath = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)]


def from_config(row: ConfigWatchlist) -> Watchlist:
    return Watchlist(id=row.id, name=row.name, query=row.query, notify=row.notify, source="config")


def from_api(row: ApiWatchlist) -> Watchlist:
    return Watchlist(
        id=row.id,
        name=row.name,
        query=row.query,
        notify=row.notify,
        source="api",
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _config_ids(ctx: WebContext) -> set[str]:
    return {w.id for w in ctx.config_watchlists()}


def _refuse_config(ctx: WebContext, watchlist_id: str) -> None:
    if watchlist_id in _config_ids(ctx):
        raise ApiError(
            409,
            "read_only",
            f"watchlist {watchlist_id!r} comes from the configuration; edit it there",
        )


def _validate(ctx: WebContext, fields: WatchlistFields) -> None:
    """422 with the CLI's position and caret for a bad query; 422 for an unknown webhook."""
    try:
        parse_query(fields.query)
    except QueryError as exc:
        raise query_problem(exc) from None
    known = {w.id for w in ctx.settings.webhooks}
    unknown = sorted(set(fields.notify) - known)
    if unknown:
        raise ApiError(422, "unknown_webhook", f"no webhook with id(s) {', '.join(unknown)}")


def _save(ctx: WebContext, watchlist_id: str, fields: WatchlistFields) -> Watchlist:
    saved = ctx.api_store.save(
        watchlist_id, fields.name or watchlist_id, fields.query, list(fields.notify)
    )
    version = ctx.republish()
    ctx.log.info("watchlist_saved", watchlist=watchlist_id, version=saved.version, set=version)
    return from_api(saved)


@router.get("", response_model=list[Watchlist])
def list_watchlists(ctx: Context, _token: Reader) -> list[Watchlist]:
    config = [from_config(w) for w in ctx.config_watchlists()]
    ids = {w.id for w in config}
    return config + [from_api(w) for w in ctx.api_store.all() if w.id not in ids]


@router.post("", response_model=Watchlist, status_code=201)
def create_watchlist(ctx: Context, _token: Writer, body: WatchlistCreate) -> Watchlist:
    _refuse_config(ctx, body.id)
    if ctx.api_store.get(body.id) is not None:
        raise ApiError(409, "exists", f"watchlist {body.id!r} exists; PUT replaces it")
    _validate(ctx, body)
    return _save(ctx, body.id, body)


@router.get("/{watchlist_id}", response_model=Watchlist)
def get_watchlist(ctx: Context, _token: Reader, watchlist_id: IdPath) -> Watchlist:
    for row in ctx.config_watchlists():
        if row.id == watchlist_id:
            return from_config(row)
    found = ctx.api_store.get(watchlist_id)
    if found is None:
        raise ApiError(404, "not_found", f"no watchlist {watchlist_id!r}")
    return from_api(found)


@router.put("/{watchlist_id}", response_model=Watchlist)
def replace_watchlist(
    ctx: Context, _token: Writer, watchlist_id: IdPath, body: WatchlistFields
) -> Watchlist:
    _refuse_config(ctx, watchlist_id)
    if ctx.api_store.get(watchlist_id) is None:
        raise ApiError(404, "not_found", f"no watchlist {watchlist_id!r}; POST creates one")
    _validate(ctx, body)
    return _save(ctx, watchlist_id, body)


@router.delete("/{watchlist_id}", status_code=204, response_class=Response)
def delete_watchlist(ctx: Context, _token: Writer, watchlist_id: IdPath) -> Response:
    _refuse_config(ctx, watchlist_id)
    if not ctx.api_store.delete(watchlist_id):
        raise ApiError(404, "not_found", f"no watchlist {watchlist_id!r}")
    ctx.republish()
    ctx.log.info("watchlist_deleted", watchlist=watchlist_id)
    return Response(status_code=204)


@router.get("/{watchlist_id}/versions", response_model=list[WatchlistVersion])
def watchlist_versions(
    ctx: Context, _token: Reader, watchlist_id: IdPath
) -> list[WatchlistVersion]:
    """Every version of an API-made watchlist, oldest first (a config one has none here)."""
    versions = ctx.api_store.versions(watchlist_id)
    if not versions and watchlist_id not in _config_ids(ctx):
        raise ApiError(404, "not_found", f"no watchlist {watchlist_id!r}")
    return [WatchlistVersion.model_validate(v, from_attributes=False) for v in versions]


def _links(ctx: WebContext, watchlist_id: str, rotate: bool) -> FeedLinks:
    if ctx.watchlist_query(watchlist_id) is None:
        raise ApiError(404, "not_found", f"no watchlist {watchlist_id!r}")
    key = ctx.feed_key(watchlist_id, rotate)
    base = f"/feeds/{watchlist_id}"
    return FeedLinks(atom=f"{base}.atom?key={key}", json_feed=f"{base}.json?key={key}")


@router.get("/{watchlist_id}/feed", response_model=FeedLinks)
def feed_links(ctx: Context, _token: Reader, watchlist_id: IdPath) -> FeedLinks:
    """The Atom and JSON Feed addresses of a watchlist's alerts, with the key that opens them."""
    return _links(ctx, watchlist_id, rotate=False)


@router.post("/{watchlist_id}/feed/rotate", response_model=FeedLinks)
def rotate_feed_key(ctx: Context, _token: Writer, watchlist_id: IdPath) -> FeedLinks:
    """A new feed key: the old addresses stop working."""
    return _links(ctx, watchlist_id, rotate=True)
