"""Feed health, endpoint health and re-enabling, dead letters and their replay."""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query

from worker.alerts.store import DeliveryStore
from worker.ops import dlq
from worker.ops.status import endpoint_status
from worker.polling.health import feed_status, health_policy
from worker.queue.connection import read_hashes
from worker.web.deps import Admin, Context, Reader
from worker.web.errors import ApiError
from worker.web.schemas import (
    SLUG_PATTERN,
    DeadLetter,
    EndpointHealth,
    FeedHealth,
    ReplayRequest,
    ReplayResult,
)

router = APIRouter(prefix="/api/v1", tags=["operations"])
_DEAD_LETTER_ID = re.compile(r"(items|alerts)/[0-9]{1,20}-[0-9]{1,20}")


def _float(value: str | None) -> float | None:
    return float(value) if value else None


@router.get("/feeds", response_model=list[FeedHealth])
def list_feeds(ctx: Context, _token: Reader) -> list[FeedHealth]:
    """Each configured feed's health, as `wirewatch feeds` shows it."""
    feeds = ctx.settings.feeds
    states = read_hashes(ctx.client, [ctx.keys.feed_state(f.url) for f in feeds])
    policy, now = health_policy(ctx.settings), time.time()
    return [
        FeedHealth(
            url=feed.url,
            name=feed.name or feed.url,
            status=feed_status(state, now, policy),
            last_success=_float(state.get("last_success")),
            last_new_item=_float(state.get("last_new_item")),
            next_poll=_float(state.get("next_poll")),
            consecutive_errors=int(state.get("consecutive_errors") or 0),
            last_error=state.get("last_error") or None,
        )
        for feed, state in zip(feeds, states, strict=True)
    ]


def _endpoint_ids(ctx: Context) -> tuple[set[str], list[str]]:
    configured = {w.id for w in ctx.settings.webhooks}
    known = DeliveryStore(ctx.client, ctx.keys).known_endpoints()
    return configured, sorted(configured | known)


@router.get("/endpoints", response_model=list[EndpointHealth])
def list_endpoints(ctx: Context, _token: Reader) -> list[EndpointHealth]:
    """Each webhook endpoint: circuit, disabled (410 Gone), queue and last outcome."""
    from worker.config.policies import delivery_policy

    policy = delivery_policy(ctx.settings).breaker
    store, now = DeliveryStore(ctx.client, ctx.keys), time.time()
    configured, ids = _endpoint_ids(ctx)
    return [
        EndpointHealth(**endpoint_status(store, eid, policy, now), configured=eid in configured)
        for eid in ids
    ]


@router.post("/endpoints/{endpoint_id}/enable", response_model=EndpointHealth)
def enable_endpoint(
    ctx: Context,
    _token: Admin,
    endpoint_id: Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)],
) -> EndpointHealth:
    """Re-enable an endpoint disabled by 410 Gone (its dead letters stay: replay them)."""
    from worker.config.policies import delivery_policy

    configured, ids = _endpoint_ids(ctx)
    if endpoint_id not in ids:
        raise ApiError(404, "not_found", f"no endpoint {endpoint_id!r}")
    store = DeliveryStore(ctx.client, ctx.keys)
    store.enable(endpoint_id)
    ctx.log.info("endpoint_enabled", endpoint=endpoint_id)
    policy = delivery_policy(ctx.settings).breaker
    status = endpoint_status(store, endpoint_id, policy, time.time())
    return EndpointHealth(**status, configured=endpoint_id in configured)


@router.get("/dead-letters", response_model=list[DeadLetter])
def list_dead_letters(
    ctx: Context, _token: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> list[DeadLetter]:
    """Dead items and deliveries with their reasons, oldest first."""
    letters = dlq.list_dead(ctx.client, ctx.keys, limit)
    return [
        DeadLetter(id=d.id, kind=d.kind, failed_at=d.failed_at, reason=d.reason, summary=d.summary)
        for d in letters
    ]


@router.post("/dead-letters/replay", response_model=ReplayResult)
def replay_dead_letters(ctx: Context, _token: Admin, body: ReplayRequest) -> ReplayResult:
    """Put the named dead letters (or all) back with fresh attempts."""
    if body.all == bool(body.ids):
        raise ApiError(422, "invalid_request", "give either ids or all: true")
    if body.all:
        replayed = dlq.replay_all(ctx.client, ctx.keys)
    else:
        well_formed = [i for i in body.ids if _DEAD_LETTER_ID.fullmatch(i)]
        replayed = dlq.replay(ctx.client, ctx.keys, well_formed)
    ctx.log.info("dead_letters_replayed", count=len(replayed))
    return ReplayResult(replayed=replayed, not_found=sorted(set(body.ids) - set(replayed)))
