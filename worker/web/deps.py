"""Request dependencies: the shared context and the bearer-token check by scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.web.context import WebContext

_bearer = HTTPBearer(auto_error=False, description="a token from web.tokens")


async def context_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def require(scope: str) -> Callable[..., Awaitable[str]]:
    """A dependency that returns the calling token's id, or answers 401/403/429."""

    # async: no I/O here, and an async dependency runs on the event loop, not a worker thread.
    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> str:
        presented = credentials.credentials if credentials else None
        context: WebContext = request.app.state.web
        return context.auth.check(presented, client_address(request), scope)

    return check


Context = Annotated[WebContext, Depends(context_of)]
Reader = Annotated[str, Depends(require("read"))]
Writer = Annotated[str, Depends(require("write"))]
Admin = Annotated[str, Depends(require("admin"))]
