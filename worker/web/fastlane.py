"""The API's busiest calls answered without FastAPI's per-request machinery.

FastAPI runs half a dozen middlewares, resolves dependencies and validates parameters for every
request: on the 2-core reference VM about 0.25 ms of CPU each, four times what uvicorn alone
costs and as much as GET /api/v1/alerts' own work (bench/api.py). Under many concurrent
clients latency is mostly waiting for that CPU.

This ASGI layer sits in front of the FastAPI application. For GET /healthz, GET /api/v1/alerts
and POST /api/v1/match it answers the plain valid case itself, with the same functions the
FastAPI routes call (`alerts_page`, `match_json`). Everything else is handed to FastAPI
untouched: a missing, wrong or insufficient token, a rate-limited address, a parameter it does
not read exactly as FastAPI would, a body it would not parse the same, any error. So every
refusal and error still has one source, each failed authentication is counted once, and the
OpenAPI schema still describes every answer. `web.fast_paths: false` turns the layer off;
tests/integration/test_web_fastlane.py compares both byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from worker.alerts.index import decode_cursor
from worker.web.alerts_api import MAX_PAGE, alerts_page, moment
from worker.web.context import WebContext
from worker.web.match_api import inline, match_json
from worker.web.schemas import SLUG_PATTERN, MatchRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A match body up to this size is read here; a larger one (a long text, a page of HTML) goes to
# FastAPI unread, which hands its matching to a thread (match_api.inline).
MATCH_BODY_MAX = 96 * 1024
HEALTHY = b'{"status":"ok"}'
_SLUG = re.compile(SLUG_PATTERN.removeprefix("^").removesuffix("$"))  # fullmatch, as pydantic
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")  # what FastAPI reads as the same int, and no more
_ALERT_PARAMS = {"watchlist": 64, "since": 40, "until": 40, "cursor": 200, "limit": 3}


class Declined(Exception):
    """Not the plain valid case: FastAPI answers this request."""


class _Call:
    """One request as the lane sees it: its scope, and its body once read (kept, so a declined
    request reaches FastAPI whole)."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self._body: bytes | None = None

    def header(self, name: bytes) -> bytes | None:
        """The one value of header `name` (lowercase); None when absent or repeated."""
        found = [value for key, value in self.scope["headers"] if key == name]  # ASGI: lowercase
        return found[0] if len(found) == 1 else None

    @property
    def client(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else "unknown"  # as deps.client_address

    async def body(self, most: int) -> bytes:
        """The body, when its declared length is at most `most` bytes; Declined otherwise."""
        declared = self.header(b"content-length")
        if declared is None or not declared.isdigit() or int(declared) > most:
            raise Declined
        chunks: list[bytes] = []
        more = True
        while more:
            message = await self._receive()
            if message["type"] != "http.request":  # the client went away: FastAPI sees it too
                self._body = b"".join(chunks)
                raise Declined
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self._body = b"".join(chunks)
        return self._body

    def receive_for_app(self) -> Receive:
        """What FastAPI reads: the untouched stream, or the body read here and then the rest."""
        if self._body is None:
            return self._receive
        pending = [{"type": "http.request", "body": self._body, "more_body": False}]

        async def receive() -> Message:
            return pending.pop() if pending else await self._receive()

        return receive


class FastLane:
    def __init__(self, app: ASGIApp, ctx: WebContext) -> None:
        self.app = app
        self.ctx = ctx
        self._routes: dict[tuple[str, str], Callable[[_Call], Awaitable[bytes]]] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/api/v1/alerts"): self._alerts,
            ("POST", "/api/v1/match"): self._match,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
        if handler is None:
            await self.app(scope, receive, send)
            return
        call = _Call(scope, receive)
        try:
            body = await handler(call)
        except Exception:  # Declined, or any failure: FastAPI answers (or reports) it
            await self.app(scope, call.receive_for_app(), send)
            return
        await _send_json(send, body)

    async def _healthz(self, _call: _Call) -> bytes:
        return HEALTHY

    def _authorised(self, call: _Call, needed: str) -> None:
        presented = _bearer(call.header(b"authorization"))
        if not self.ctx.auth.admits(presented, call.client, needed):
            raise Declined

    async def _alerts(self, call: _Call) -> bytes:
        self._authorised(call, "read")
        params = _alert_params(call.scope["query_string"])
        limit = params.get("limit")
        if limit is not None and (not _LIMIT.fullmatch(limit) or int(limit) > MAX_PAGE):
            raise Declined
        watchlist = params.get("watchlist")
        if watchlist is not None and not _SLUG.fullmatch(watchlist):
            raise Declined
        if params.get("cursor") is not None and decode_cursor(params["cursor"]) is None:
            raise Declined
        since, until = params.get("since"), params.get("until")
        moment(since, "since"), moment(until, "until")  # ApiError (declined) when unreadable
        return await alerts_page(
            self.ctx, watchlist, since, until, params.get("cursor"), int(limit or 50)
        )

    async def _match(self, call: _Call) -> bytes:
        self._authorised(call, "read")
        kind = call.header(b"content-type")
        if kind is None or kind.split(b";")[0].strip().lower() != b"application/json":
            raise Declined
        request = MatchRequest.model_validate_json(await call.body(MATCH_BODY_MAX))
        if not inline(request):  # HTML, a URL or a watchlist: FastAPI, on a thread
            raise Declined
        return match_json(self.ctx, request).encode()


def _bearer(header: bytes | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, read as FastAPI's HTTPBearer reads it."""
    if header is None:
        return None
    scheme, _, credentials = header.decode("latin-1").partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


def _alert_params(query_string: bytes) -> dict[str, str]:
    """The alert page's parameters, decoded as Starlette decodes them; Declined when one is
    given twice or is longer than its bound (FastAPI's 422s). Other names are ignored, as
    FastAPI ignores them."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        bound = _ALERT_PARAMS.get(name)
        if bound is None:
            continue
        if name in found or len(value) > bound:
            raise Declined
        found[name] = value
    return found


async def _send_json(send: Send, body: bytes) -> None:
    """200 with a JSON body, with the headers Starlette's Response gives (the same order)."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
