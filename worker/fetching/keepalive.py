"""Pooled keep-alive connections that are never closed under a request, and a request that a
stale one dropped tried once more on a fresh connection.

The race (httpcore 1.0.x, encode/httpcore#1110): the pool's housekeeping closes connections it
finds idle, expired, or surplus, from whichever thread passes by. It decides under the pool
lock but closes outside it, and a connection counts as idle from the moment it is handed to a
waiting request until that request's thread starts sending on it. So a pass can decide to close
a connection another thread is already using, or about to: the socket is closed under a request
in flight, which then fails with `ReadError: [Errno 9] Bad file descriptor` (or, worse, the
descriptor number is reused by a new socket and the read goes to an unrelated connection). A
keep-alive connection the server has just closed looks "readable" to the same pass, which is
how a poll of 10,000 feeds met it, and how a webhook whose 200 had already arrived was sent a
second time.

`GuardedPool` gives every connection a wrapper that knows when it is in use: while it is, the
pool sees it neither idle nor available, and a close asked of it is put off until the response
is closed. Separately, a request that fails on a reused keep-alive connection before a single
byte of the answer arrived (the server closed it while we were sending, the classic keep-alive
race) is sent once more, on a new connection: nothing of it was answered, so nothing was lost.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

# A request that failed this way on a reused connection may have met a socket the server closed.
_STALE_CONNECTION_ERRORS = (httpcore.ReadError, httpcore.WriteError, httpcore.RemoteProtocolError)

# Bytes received on the socket by the request in flight in this thread (sync I/O runs in the
# caller's thread), so a failure can tell "no byte of the answer came" from "part of it came".
_received: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "wirewatch_received", default=None
)


class _CountingStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, timeout)
        counter = _received.get()
        if counter is not None:
            counter[0] += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _CountingStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _CountingBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _CountingStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return _CountingStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _ReleasingStream:
    """A response body that tells its connection when it is closed (the request is over)."""

    def __init__(self, inner: Iterable[bytes], release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._release()


class GuardedConnection(httpcore.ConnectionInterface):
    """One pooled connection: closed only when no request uses it, and a stale keep-alive
    socket replaced once, transparently, when it dropped a request before answering."""

    def __init__(self, connect: Callable[[], httpcore.ConnectionInterface]) -> None:
        self._connect = connect
        self._inner = connect()
        self._lock = threading.Lock()
        self._in_use = False
        self._retired = False  # the pool closed it: no new request; shut once the last ends
        self._served = False  # a request went out on the current socket: it is being reused

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        with self._lock:
            if self._retired or self._in_use:
                raise httpcore.ConnectionNotAvailable()  # the pool picks another for it
            self._in_use = True
        try:
            response = self._send(request)
        except BaseException:
            self._release()
            raise
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_ReleasingStream(response.stream, self._release),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    def _send(self, request: httpcore.Request) -> httpcore.Response:
        reused, self._served = self._served, True
        counter = [0]
        token = _received.set(counter)
        try:
            try:
                return self._inner.handle_request(request)
            except _STALE_CONNECTION_ERRORS:
                if not reused or counter[0]:
                    raise  # a new connection failed, or the server had begun to answer
            self._inner.close()
            self._inner = self._connect()  # a fresh socket, for one more try
            return self._inner.handle_request(request)
        finally:
            _received.reset(token)

    def _release(self) -> None:
        with self._lock:
            self._in_use = False
            close_now = self._retired
        if close_now:
            self._inner.close()

    def close(self) -> None:
        with self._lock:
            self._retired = True
            if self._in_use:
                return  # closed by _release, when the request in flight is over
        self._inner.close()

    # -- what the pool asks: a connection in use is neither idle, available nor expired ---------
    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return self._inner.can_handle_request(origin)

    def is_available(self) -> bool:
        return not self._busy() and self._inner.is_available()

    def has_expired(self) -> bool:
        return not self._busy() and self._inner.has_expired()

    def is_idle(self) -> bool:
        return not self._busy() and self._inner.is_idle()

    def is_closed(self) -> bool:
        return not self._busy() and self._inner.is_closed()

    def info(self) -> str:
        return self._inner.info()

    def _busy(self) -> bool:
        with self._lock:
            return self._in_use

    def __repr__(self) -> str:
        return f"<GuardedConnection in_use={self._in_use} {self._inner!r}>"


class GuardedPool(httpcore.ConnectionPool):
    """httpcore's pool, with every connection a GuardedConnection (and its bytes counted)."""

    def __init__(self, *, network_backend: httpcore.NetworkBackend | None = None, **kw: Any):
        backend = _CountingBackend(network_backend or httpcore.SyncBackend())
        super().__init__(network_backend=backend, **kw)

    def create_connection(self, origin: httpcore.Origin) -> httpcore.ConnectionInterface:
        return GuardedConnection(functools.partial(super().create_connection, origin))


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a GuardedPool (HTTPTransport takes no pool: its own is replaced,
    with the same settings)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008 (immutable: httpx's defaults)
        network_backend: httpcore.NetworkBackend | None = None,
        trust_env: bool = True,
    ) -> None:
        super().__init__(limits=limits, trust_env=trust_env)
        self._pool = GuardedPool(
            ssl_context=httpx.create_ssl_context(trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
