"""The callback's HTTP listener (stdlib ThreadingHTTPServer), hardened for the open internet.

Bounded everywhere: connections at once (more are closed unanswered), seconds per socket read,
the request head in time and size (a client dripping header lines is cut off), push bodies
(one Content-Length required, no Transfer-Encoding, larger ones refused with 413 before a byte
is read, and none read for an unknown token), pushes processed at once (more get 503 with
Retry-After: the hub sends again). One request per connection. Junk gets a 4xx; an unexpected
error a 503; the server thread never dies of a request.
"""

from __future__ import annotations

import http.client
import re
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
HEAD_DEADLINE_S = 10.0  # for the whole request line and headers
HEAD_BYTES = 32 * 1024  # request line and headers together (http.client alone allows ~6 MB)
BODY_DEADLINE_S = 60.0  # for a whole push body
_READ_PIECE = 64 * 1024
_BUSY_RETRY_S = "30"
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")  # ASCII digits only ("\xb2".isdigit() is True)


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


def joined_headers(items: Any) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined by commas, as HTTP reads them (so
    two Content-Length headers are no valid Content-Length)."""
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class HeadReader:
    """The connection's reader, bounding the request head as a whole: `readline` makes at most
    one socket read at a time, each given only the time left before the head's deadline, and
    counts the bytes (the socket timeout bounds one read only: a client sending a header line
    every few seconds would otherwise hold a connection slot for hours). Reads past the head
    (`read1`, the push body) go straight to the socket, with its usual timeout."""

    def __init__(
        self, inner: Any, sock: socket.socket, timeout_s: float, deadline_s: float, limit: int
    ) -> None:
        self._inner = inner
        self._sock = sock
        self._timeout_s = timeout_s
        self._end = time.monotonic() + deadline_s
        self._left = limit

    def readline(self, size: int = -1) -> bytes:
        line = b""
        while not line.endswith(b"\n") and (size < 0 or len(line) < size):
            buffered = self._peek()
            if not buffered:
                break
            newline = buffered.find(b"\n")
            take = newline + 1 if newline >= 0 else len(buffered)
            if size >= 0:
                take = min(take, size - len(line))
            if take > self._left:
                raise http.client.LineTooLong(f"request head over {HEAD_BYTES} bytes")
            self._left -= take
            line += self._inner.read(take)
        return line

    def _peek(self) -> bytes:
        left_s = self._end - time.monotonic()
        if left_s <= 0:
            raise TimeoutError("request head too slow")
        self._sock.settimeout(min(self._timeout_s, left_s))
        try:
            return bytes(self._inner.peek(1))  # one socket read at most, when none is buffered
        finally:
            self._sock.settimeout(self._timeout_s)

    def read1(self, size: int = -1) -> bytes:
        return bytes(self._inner.read1(size))

    def close(self) -> None:
        self._inner.close()


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
    def __init__(
        self,
        address: tuple[str, int],
        callbacks: Callbacks,
        log: Any,
        max_body: int,
        *,
        head_deadline_s: float = HEAD_DEADLINE_S,
    ):
        self.callbacks = callbacks
        self._address = address
        self.log = log
        self.max_body = max_body
        self.head_deadline_s = head_deadline_s
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
        if not self.callbacks.knows(token):
            return NOT_FOUND  # before reading a body nobody will take, or holding a push slot
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
        """Why a push is refused before its body is read, if it is. A body framed any other way
        than by one plain Content-Length is refused: a proxy in front might read it otherwise
        (request smuggling). Repeated headers arrive joined by commas (see do_POST)."""
        length = headers.get("content-length", "")
        if "transfer-encoding" in headers or not _CONTENT_LENGTH.fullmatch(length):
            return Answer(411, b"one Content-Length required, no Transfer-Encoding\n")
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

            def setup(self) -> None:
                super().setup()
                self.rfile = HeadReader(  # type: ignore[assignment]
                    self.rfile, self.connection, REQUEST_TIMEOUT_S, listener.head_deadline_s,
                    HEAD_BYTES,
                )  # fmt: skip

            def do_GET(self) -> None:
                self._answer(lambda: listener.answer_get(self.path))

            def do_POST(self) -> None:
                headers = joined_headers(self.headers.items())
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
