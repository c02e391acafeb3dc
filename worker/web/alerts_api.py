"""`/api/v1/alerts` (newest first, cursor-paged), an alert with its deliveries, and stories."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from worker.alerts.index import decode_cursor
from worker.web.context import WebContext
from worker.web.deps import Context, Reader
from worker.web.errors import ApiError
from worker.web.schemas import SLUG_PATTERN, AlertDetail, AlertPage, Delivery, Story

router = APIRouter(prefix="/api/v1", tags=["alerts"])
MAX_PAGE = 500


def moment(value: str | None, name: str) -> float | None:
    """An ISO-8601 time or unix seconds -> unix seconds."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(
            422, "invalid_time", f"{name}: {value!r} is not ISO-8601 or unix seconds"
        ) from None


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    ctx: Context,
    _token: Reader,
    watchlist: Annotated[str | None, Query(pattern=SLUG_PATTERN, max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO-8601 or unix")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO-8601 or unix")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Response:
    """Alerts newest first; pass `next_cursor` back as `cursor` for the next (older) page."""
    body = await alerts_page(ctx, watchlist, since, until, cursor, limit)
    return Response(body, media_type="application/json")


async def alerts_page(
    ctx: WebContext,
    watchlist: str | None,
    since: str | None,
    until: str | None,
    cursor: str | None,
    limit: int,
) -> bytes:
    """A page as JSON; ApiError for a cursor this API did not give or a time it cannot read."""
    member = None
    if cursor is not None:
        member = decode_cursor(cursor)
        if member is None:
            raise ApiError(422, "invalid_cursor", "cursor is not one this API gave")
    window = (moment(since, "since"), moment(until, "until"))
    assert ctx.pages is not None  # set while the app runs (app.lifespan)
    # The stored JSON texts are spliced into the answer: no parsing and re-encoding per alert.
    return await ctx.pages.page_json(watchlist, *window, member, limit)


def deliveries_of(ctx: WebContext, alert: dict[str, Any]) -> list[Delivery]:
    """Per endpoint the alert names: attempts, results, next try, and where it stands."""
    history = ctx.history.of(alert["alert_id"])
    digest_ids = {w.id for w in ctx.settings.webhooks if w.digest}
    found = []
    for endpoint in alert.get("notify", []):
        ident = f"{alert['alert_id']}:{endpoint}"
        noted = history.get(endpoint, {})
        raw: Any = ctx.client.hget(ctx.keys.deliveries, ident)
        due: Any = ctx.client.zscore(ctx.keys.endpoint_due(endpoint), ident) if raw else None
        state = noted.get("state") or ("digest" if endpoint in digest_ids else "queued")
        found.append(
            Delivery(
                endpoint=endpoint,
                state=state,
                attempts=int(noted.get("attempts") or (json.loads(raw)["attempts"] if raw else 0)),
                results=list(noted.get("results", [])),
                last_error=noted.get("last_error"),
                next_try_at=float(due) if due is not None else None,
            )
        )
    return found


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
def get_alert(
    ctx: Context, _token: Reader, alert_id: Annotated[str, Path(max_length=100)]
) -> AlertDetail:
    alert = ctx.index.get(alert_id)
    if alert is None:
        raise ApiError(404, "not_found", f"no alert {alert_id!r} (or older than the retention)")
    return AlertDetail(alert=alert, deliveries=deliveries_of(ctx, alert))


@router.get("/stories/{story_id}", response_model=Story)
def get_story(
    ctx: Context, _token: Reader, story_id: Annotated[str, Path(max_length=100)]
) -> Story:
    """A story that alerted: its articles from the one that alerted on (copies included,
    noted by workers: pipeline/storylog.py), and their sources."""
    articles = ctx.index.story(story_id)
    if not articles:
        raise ApiError(404, "not_found", f"no story {story_id!r} among the indexed alerts")
    sources = sorted({(a.get("feed") or {}).get("name") or "" for a in articles} - {""})
    return Story(id=story_id, articles=articles, sources=sources)
