"""The ASGI application: routers, JSON errors, and an OpenAPI schema that says so."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from worker.alerts.index import AsyncPageReader
from worker.queue.connection import async_client
from worker.rules.frequency import frequencies
from worker.web import (
    alert_feeds,
    alerts_api,
    archive_api,
    health_api,
    match_api,
    ops_api,
    watchlists_api,
)
from worker.web.context import WebContext
from worker.web.dashboard import pages as dashboard
from worker.web.errors import ErrorBody, install_error_handlers
from worker.web.fastlane import ASGIApp, FastLane

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "no token, or a wrong one"),
        (403, "the token's scope does not allow this"),
        (404, "not found"),
        (409, "conflict: exists already, or read-only (from the configuration)"),
        (422, "invalid request (a query that does not parse: message, position and caret)"),
        (429, "too many failed authentications from this address"),
    )
}


def create_app(ctx: WebContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.aclient = async_client(ctx.redis_url)
        ctx.pages = AsyncPageReader(ctx.aclient, ctx.keys)
        # The matcher's word-frequency table loads on first use (most of a second): now, not
        # in the first POST /match.
        await run_in_threadpool(frequencies)
        # What is loaded now (the frequency table, compiled rules, modules) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it, which
        # took tens of milliseconds in the middle of a request (p99, bench/api.py).
        gc.freeze()
        try:
            yield
        finally:
            await ctx.aclient.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="wirewatch",
        version="1",
        description="Watchlists, alerts, alert feeds, health and metrics of a wirewatch setup.",
        responses=_ERRORS,
    )
    app.state.web = ctx
    install_error_handlers(app, ctx.log)
    routers = (watchlists_api, alerts_api, match_api, archive_api, ops_api, alert_feeds, health_api)
    for module in routers:
        app.include_router(module.router)
    dashboard.install(app)
    _errors_in_schema(app)
    return app


def served_app(ctx: WebContext) -> ASGIApp:
    """What the server runs: the application, behind the fast lane unless `web.fast_paths` is
    off (worker/web/fastlane.py)."""
    app = create_app(ctx)
    return FastLane(app, ctx) if ctx.settings.web.fast_paths else app


def _errors_in_schema(app: FastAPI) -> None:
    """FastAPI documents its own 422 shape; ours is `{"error", "detail"}` everywhere."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            for code, response in operation.get("responses", {}).items():
                if code[0] in "45" and "content" in response:
                    response["content"] = {"application/json": {"schema": ref}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
