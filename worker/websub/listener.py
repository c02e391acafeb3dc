"""The callback's HTTP listener (stdlib ThreadingHTTPServer), hardened for the open internet.

Bounded everywhere: connections at once (more are closed unanswered), seconds per request
(a slow client is cut off), push bodies (Content-Length required, larger ones refused with 413
before a byte is read), pushes processed at once (more get 503 with Retry-After: the hub sends
again). One request per connection. Junk gets a 4xx; an unexpected error a 500; the server
thread never dies of a request.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from worker.websub.callbacks import NOT_FOUND, Answer, Callbacks, token_of

MAX_CONNECTIONS = 64
MAX_PUSHES_AT_ONCE = 8
REQUEST_TIMEOUT_S = 10.0  # per socket operation
BODY_DEADLINE_S = 60.0  # for a whole push body
_READ_PIECE = 64 * 1024
_BUSY_RETRY_S = "30"


def read_within(read: Any, length: int, deadline_s: float) -> bytes | None:
    """`length` bytes by `read(n)` in pieces, or None if the sender stops short or is too slow
    (the socket timeout bounds one read; this bounds them all: one byte every few seconds
    would otherwise hold a push slot for days)."""
    end = time.monotonic() + deadline_s
    pieces: list[bytes] = []
    left = length
    while left > 0:
        piece = read(min(left, _READ_PIECE))
        if not piece or time.monotonic() > end:
            return None
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


class _BoundedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: hubs retry, and this is no place for a queue
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up or times out is no news; handlers answer their own errors."""


class WebSubListener:
    def __init__(self, address: tuple[str, int], callbacks: Callbacks, log: Any, max_body: int):
        self.callbacks = callbacks
        self._address = address
        self.log = log
        self.max_body = max_body
        self._pushes = threading.BoundedSemaphore(MAX_PUSHES_AT_ONCE)
        self._server = _BoundedServer(address, self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="websub-listener",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        self.log.info("websub_listening", address=f"{self._address[0]}:{self.port}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer_get(self, path: str) -> Answer:
        token = token_of(urlsplit(path).path)
        if token is None:
            return NOT_FOUND
        query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        return self.callbacks.verify(token, query)

    def answer_post(self, path: str, headers: dict[str, str], read: Any) -> Answer:
        """`read(n)` reads at most n bytes of the body (one socket read); called only once the
        request passed every bound."""
        token = token_of(urlsplit(path).path)
        if token is None:
            return NOT_FOUND
        refusal = self._refusal(headers)
        if refusal is not None:
            return refusal
        length = headers["content-length"]
        if not self._pushes.acquire(blocking=False):
            return Answer(503, b"busy\n")
        try:
            body = read_within(read, int(length), BODY_DEADLINE_S)
            if body is None:
                return Answer(400, b"body shorter than Content-Length, or too slow\n")
            return self.callbacks.push(token, headers, body)
        finally:
            self._pushes.release()

    def _refusal(self, headers: dict[str, str]) -> Answer | None:
        """Why a push is refused before its body is read, if it is."""
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length", "")
        if chunked or not length.isdigit():
            return Answer(411, b"Content-Length required\n")
        if int(length) > self.max_body:
            return Answer(413, b"too large\n")
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = REQUEST_TIMEOUT_S  # per socket operation
            server_version = "wirewatch-websub"
            sys_version = ""

            def do_GET(self) -> None:
                self._answer(lambda: listener.answer_get(self.path))

            def do_POST(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                self._answer(lambda: listener.answer_post(self.path, headers, self.rfile.read1))

            def _answer(self, compute: Any) -> None:
                try:
                    answer = compute()
                except (TimeoutError, ConnectionError):
                    self.close_connection = True
                    return
                except Exception as exc:  # Redis away, or a bug: the hub retries
                    listener.log.exception("websub_callback_failed", error=str(exc))
                    answer = Answer(503, b"unavailable\n")
                self._send(answer)

            def _send(self, answer: Answer) -> None:
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("X-Content-Type-Options", "nosniff")  # a challenge is echoed
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.status == 503:
                    self.send_header("Retry-After", _BUSY_RETRY_S)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                return  # access logs are the reverse proxy's job

        return _Handler
