"""The httpx transport under Fetcher: a whole-download deadline and connect-time address pinning.

httpx has no hook for DNS, but httpcore's connection pool takes a network backend. Ours resolves
the host itself (resolving.py: bounded by the deadline, answers kept briefly), checks every
address with the SSRF guard and connects to one of exactly those addresses, so a DNS answer
that changes between check and connect (rebinding) cannot reach an internal address. TLS still
verifies the certificate against the host name, because httpcore passes the origin's host (not
our IP) as server_hostname.

httpx timeouts apply per socket operation; a server dripping a byte per second never trips them.
Every stream therefore clamps each operation's timeout to the deadline of the fetch in progress,
held in a context variable (a sync httpx client does its I/O in the calling thread).
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions

from worker.fetching.guard import AddressPolicy
from worker.fetching.keepalive import GuardedTransport
from worker.fetching.resolving import CachedResolver, allow_any

TRUSTED_EXTENSION = "wirewatch.trusted"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "wirewatch_fetch_deadline", default=None
)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside the block fails once `seconds` have passed."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline_passed() -> bool:
    end = _deadline.get()
    return end is not None and time.monotonic() >= end


def _clamp(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    end = _deadline.get()
    if end is None:
        return timeout
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise error("the download deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        clamped = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, clamped))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Connects to the addresses `policy` allows for the host, DNS and connect deadline-bound.
    Trusted first hops (or private addresses allowed) use a policy that allows any address."""

    def __init__(self, dns: CachedResolver, policy: AddressPolicy) -> None:
        self._inner = httpcore.SyncBackend()
        self._dns = dns
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _clamp(timeout, httpcore.ConnectTimeout)
        addresses = self._dns.lookup(host, port, self._policy, wait)
        failure: httpcore.ConnectError | None = None
        for ip in addresses:
            clamped = _clamp(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(
                    str(ip), port, clamped, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None  # lookup never returns an empty list
        raise failure

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PoolTransport(GuardedTransport):
    """Over a pool that never closes a connection under a request (keepalive.py)."""

    def __init__(self, backend: httpcore.NetworkBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, network_backend=backend, trust_env=False)

    def send_core(self, request: httpcore.Request) -> httpcore.Response:
        with map_httpcore_exceptions():
            return self._pool.handle_request(request)


class _RoutingTransport(httpx.BaseTransport):
    """Two pools, so a connection opened for a trusted feed URL to a private address is never
    reused by an untrusted request to the same origin."""

    def __init__(self, trusted: _PoolTransport, guarded: _PoolTransport) -> None:
        self._trusted = trusted
        self._guarded = guarded

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        chosen = self._trusted if request.extensions.get(TRUSTED_EXTENSION) else self._guarded
        return chosen.handle_request(request)

    def send_core(self, request: httpcore.Request, *, trusted: bool) -> httpcore.Response:
        """The request straight to the chosen pool, without httpx's Request and Response
        wrappers (a third of a 304's fetch CPU); httpcore errors come out as httpx's. The
        body's chunks are to be read through `core_chunks`."""
        return (self._trusted if trusted else self._guarded).send_core(request)

    def close(self) -> None:
        self._trusted.close()
        if self._guarded is not self._trusted:
            self._guarded.close()


def core_chunks(response: httpcore.Response) -> Iterator[bytes]:
    """The raw body of a `send_core` response, httpcore errors as httpx's."""
    with map_httpcore_exceptions():
        yield from response.iter_stream()


def build_transport(
    *, dns: CachedResolver, allowed: AddressPolicy, guard_untrusted: bool, limits: httpx.Limits
) -> _RoutingTransport:
    """Requests marked with TRUSTED_EXTENSION skip the guard; all others pass it when
    `guard_untrusted` (i.e. unless private addresses are allowed)."""
    trusted = _PoolTransport(_DeadlineBackend(dns, allow_any), limits)
    if not guard_untrusted:
        return _RoutingTransport(trusted, trusted)
    return _RoutingTransport(trusted, _PoolTransport(_DeadlineBackend(dns, allowed), limits))
