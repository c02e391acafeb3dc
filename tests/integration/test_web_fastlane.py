"""The fast lane (worker/web/fastlane.py) answers exactly as FastAPI does.

Two web roles on one Redis, one with `web.fast_paths` off: every request below, plain or odd,
gets the same status, content type and body from both, byte for byte. Then the things only the
lane could get wrong: a refused call counted once by the failed-auth limit, a body the lane
read reaching FastAPI whole, a body too big for the lane still answered.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.support.web import ADMIN, READ, WRITE, RunningWeb, add_alerts, web_settings
from worker.alerts.index import AsyncPageReader
from worker.observability.logging import get_logger
from worker.queue.connection import async_client
from worker.queue.keys import Keys
from worker.web.context import WebContext
from worker.web.fastlane import MATCH_BODY_MAX, FastLane

TEXT = "Talks resume\nThe NATO summit opened as talks on the treaty resumed in Vilnius."


def _requests(cursor: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keywords): the plain cases, and every way to be not quite one."""
    alerts = "/api/v1/alerts"
    match = "/api/v1/match"
    return [
        ("GET", "/healthz", {}),
        ("GET", "/healthz", {"token": None}),
        ("GET", alerts, {}),
        ("GET", alerts, {"params": {"limit": "7"}}),
        ("GET", alerts, {"params": {"limit": "7", "cursor": cursor}}),
        ("GET", alerts, {"params": {"watchlist": "nato", "limit": "3"}}),
        ("GET", alerts, {"params": {"watchlist": "nobody"}}),
        ("GET", alerts, {"params": {"since": "2020-01-01T00:00:00Z", "until": "4102444800"}}),
        ("GET", alerts, {"params": {"unknown": "ignored", "limit": "2"}}),
        ("GET", alerts, {"params": {"limit": "0"}}),
        ("GET", alerts, {"params": {"limit": "501"}}),
        ("GET", alerts, {"params": {"limit": "05"}}),
        ("GET", alerts, {"params": {"limit": "five"}}),
        ("GET", alerts, {"params": {"limit": ""}}),
        ("GET", alerts, {"params": [("limit", "2"), ("limit", "3")]}),
        ("GET", alerts, {"params": {"watchlist": "NATO"}}),
        ("GET", alerts, {"params": {"watchlist": "nato\n"}}),
        ("GET", alerts, {"params": {"watchlist": "n" * 65}}),
        ("GET", alerts, {"params": {"cursor": "nonsense"}}),
        ("GET", alerts, {"params": {"since": "yesterday"}}),
        ("GET", alerts, {"params": {"until": "9" * 41}}),
        ("GET", alerts, {"token": None}),
        ("GET", alerts, {"token": WRITE}),
        ("GET", alerts, {"headers": {"Authorization": f"Basic {READ}"}}),
        ("GET", alerts, {"headers": {"Authorization": f"bearer {READ}"}}),
        ("POST", alerts, {}),
        ("POST", match, {"json": {"query": "NATO NEAR/5 talks", "text": TEXT}}),
        ("POST", match, {"json": {"query": "senator", "text": TEXT}}),
        ("POST", match, {"json": {"query": "NATO AND (", "text": TEXT}}),
        ("POST", match, {"json": {"watchlist": "nato", "text": TEXT}}),
        ("POST", match, {"json": {"query": "NATO", "html": f"<p>{TEXT}</p>"}}),
        ("POST", match, {"json": {"query": "NATO", "text": TEXT, "url": "http://x.test/"}}),
        ("POST", match, {"json": {"query": "NATO"}}),
        ("POST", match, {"json": {"query": "", "text": TEXT}}),
        ("POST", match, {"json": {"query": "NATO", "text": TEXT, "extra": 1}}),
        ("POST", match, {"json": ["NATO", TEXT]}),
        ("POST", match, {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("POST", match, {"content": json.dumps({"query": "NATO", "text": TEXT})}),
        ("POST", match, {"json": {"query": "NATO", "text": TEXT}, "token": None}),
        ("POST", match, {"json": {"query": "NATO", "text": "x" * 30_000 + " NATO"}}),
        ("GET", match, {}),
    ]


@pytest.fixture
def both(redis_url: str, prefix: str) -> Iterator[tuple[RunningWeb, RunningWeb]]:
    watchlists = [{"id": "nato", "query": "NATO"}]
    lane = web_settings(redis_url, prefix, watchlists=watchlists)
    plain = web_settings(redis_url, prefix, watchlists=watchlists, web={"fast_paths": False})
    with RunningWeb(lane) as fast, RunningWeb(plain) as slow:
        yield fast, slow


def _call(web: RunningWeb, method: str, path: str, options: dict[str, Any]) -> Any:
    options = dict(options)
    token = options.pop("token", READ)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(options.pop("headers", {}))
    return web.http.request(method, path, headers=headers, **options)


def test_every_answer_is_the_same_with_and_without_the_lane(
    both: tuple[RunningWeb, RunningWeb], client: redis.Redis, prefix: str
) -> None:
    fast, slow = both
    add_alerts(client, Keys(prefix), "nato", 12)
    add_alerts(client, Keys(prefix), "taiwan", 5)
    cursor = slow.get("/api/v1/alerts", params={"limit": "7"}).json()["next_cursor"]
    assert cursor
    for method, path, options in _requests(cursor):
        got, expected = _call(fast, method, path, options), _call(slow, method, path, options)
        where = f"{method} {path} {options}"
        assert got.status_code == expected.status_code, where
        assert got.headers.get("content-type") == expected.headers.get("content-type"), where
        assert got.content == expected.content, where
    # The plain cases did answer (not every request failing alike on both).
    assert len(fast.get("/api/v1/alerts", params={"limit": "7"}).json()["alerts"]) == 7
    assert fast.call("POST", "/api/v1/match", json={"query": "NATO", "text": TEXT}).json()[
        "matched"
    ]


def test_a_refused_call_counts_once_against_the_address(redis_url: str, prefix: str) -> None:
    settings = web_settings(redis_url, prefix, web={"auth_failures_per_minute": 4})
    with RunningWeb(settings) as web:
        statuses = [web.get("/api/v1/alerts", token="wrong").status_code for _ in range(4)]
        locked = web.get("/api/v1/alerts", token=READ)
        matching = web.call("POST", "/api/v1/match", ADMIN, json={"query": "a", "text": "a"})
    assert statuses == [401] * 4, "four failures allowed: each counted once, not twice"
    assert locked.status_code == 429, "a locked-out address is refused even with a good token"
    assert matching.status_code == 429


def _raw_post(port: int, body: bytes, split_at: int) -> bytes:
    """A match request whose body arrives in two writes; the whole answer."""
    head = (
        f"POST /api/v1/match HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {READ}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[:split_at])
        sock.sendall(body[split_at:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_body_read_in_pieces_or_too_big_for_the_lane_is_still_matched(
    redis_url: str, prefix: str
) -> None:
    settings = web_settings(redis_url, prefix)
    port = int(settings.web.listen.rpartition(":")[2])
    small = json.dumps({"query": "NATO", "text": TEXT}).encode()
    # Valid for the API, larger than the lane reads: FastAPI gets it unread.
    big_text = "filler " * (MATCH_BODY_MAX // 7) + "NATO"
    big = json.dumps({"query": "NATO", "text": big_text}).encode()
    assert len(big) > MATCH_BODY_MAX
    with RunningWeb(settings) as web:
        pieces = _raw_post(port, small, 10)
        declined = _raw_post(port, b'{"query": "NATO"}', 5)  # read by the lane, then FastAPI's
        whole = web.call("POST", "/api/v1/match", json={"query": "NATO", "text": big_text})
    head, _, body = pieces.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["matched"] is True
    head, _, body = declined.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 422"), head
    assert json.loads(body)["error"] == "invalid_request"
    assert whole.status_code == 200
    assert whole.json()["matched"] is True


def _asgi_call(lane: FastLane, method: str, path: str, query: bytes, body: bytes) -> int:
    """One request straight into the lane, on a Redis client of its own event loop; the status
    it answered."""
    headers = [(b"authorization", f"Bearer {READ}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    async def run() -> None:
        ctx = lane.ctx
        assert ctx.redis_url
        ctx.aclient = async_client(ctx.redis_url)
        ctx.pages = AsyncPageReader(ctx.aclient, ctx.keys)
        try:
            await lane(scope, receive, send)
        finally:
            await ctx.aclient.aclose()

    asyncio.run(run())
    return int(sent[0]["status"])


def test_the_lane_answers_the_plain_cases_itself_and_hands_on_the_rest(
    redis_url: str, prefix: str, client: redis.Redis
) -> None:
    """Without this the comparison above would also pass with a lane that declines all."""
    add_alerts(client, Keys(prefix), "nato", 3)
    settings = web_settings(redis_url, prefix)
    ctx = WebContext.build(settings, client, Keys(prefix), get_logger(), redis_url)
    handed_on: list[str] = []

    async def framework(scope: Any, _receive: Any, send: Any) -> None:
        handed_on.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    lane = FastLane(framework, ctx)
    match = json.dumps({"query": "NATO", "text": TEXT}).encode()
    answered = [
        ("GET", "/healthz", b"", b""),
        ("GET", "/api/v1/alerts", b"limit=2", b""),
        ("POST", "/api/v1/match", b"", match),
    ]
    declined = [
        ("GET", "/api/v1/alerts", b"limit=0", b""),
        ("POST", "/api/v1/match", b"", b'{"query": "NATO"}'),
        ("GET", "/api/v1/watchlists", b"", b""),
    ]
    statuses = [_asgi_call(lane, *request) for request in answered + declined]
    assert handed_on == [path for _, path, _, _ in declined]
    assert statuses == [200] * len(answered) + [599] * len(declined)
