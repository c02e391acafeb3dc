"""`/healthz` (the process answers), `/readyz` (Redis, live roles, queue lag) and `/metrics`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from worker.observability.metrics import live_counts
from worker.ops.status import items_status, stream_status
from worker.queue.keys import ALERTS_GROUP
from worker.web.context import WebContext
from worker.web.deps import Context, Reader
from worker.web.errors import ErrorBody, error_response
from worker.web.metrics import expected_roles, render
from worker.web.schemas import Ready

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(ctx: WebContext) -> Ready:
    reasons: list[str] = []
    try:
        ctx.client.ping()
    except Exception as exc:  # any failure to reach Redis is the answer, not a crash
        return Ready(ready=False, reasons=[f"redis: {type(exc).__name__}"], live={})
    now = time.time()
    live = live_counts(ctx.client, ctx.keys, now, ctx.settings.web.live_timeout)
    reasons += [f"no live {role}" for role in expected_roles(ctx) if not live.get(role)]
    queues = (
        ("items", items_status(ctx.client, ctx.keys)),  # every items shard (queue.partitions)
        ("alerts", stream_status(ctx.client, ctx.keys.alerts_stream, ALERTS_GROUP)),
    )
    for name, report in queues:
        oldest: Any = report.get("oldest_undelivered_at")
        if oldest is not None and now - oldest > ctx.settings.web.ready_max_lag:
            reasons.append(f"{name} queue lags {now - oldest:.0f}s")
    return Ready(ready=not reasons, reasons=reasons, live=live)


@router.get("/readyz", response_model=Ready, responses={503: {"model": ErrorBody}})
def readyz(ctx: Context) -> JSONResponse:
    """200 when Redis answers, every role has a live instance and no queue lags more than
    `web.ready_max_lag`; 503 otherwise, with the reasons."""
    ready = readiness(ctx)
    if ready.ready:
        return JSONResponse(ready.model_dump())
    return error_response(503, "not_ready", ready.model_dump())


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(ctx: Context, _token: Reader) -> Response:
    return Response(render(ctx), media_type=CONTENT_TYPE_LATEST)
