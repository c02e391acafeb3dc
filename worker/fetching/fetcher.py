"""One safe HTTP GET for feeds and article pages.

Every hop of a redirect chain is checked here (scheme, hop count, loops) and, unless the hop is
the first hop of a trusted feed URL, pinned to guard-approved addresses by the transport. Foreign
errors stop at this boundary: callers only ever see worker.errors classes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx

from worker.errors import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    HttpStatusError,
    TooLargeError,
)
from worker.fetching.decoding import ACCEPT_ENCODING, BodyDecodeError, decode_stream
from worker.fetching.guard import (
    AddressPolicy,
    Resolver,
    check_scheme,
    is_public_address,
    system_resolver,
)
from worker.fetching.resolving import CachedResolver
from worker.fetching.transport import TRUSTED_EXTENSION, build_transport, deadline, deadline_passed

_Headers = tuple[tuple[str, str], ...]
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DRAIN_MAX_BYTES = 64 * 1024  # a larger unwanted body costs more to read than a new connection


@dataclass(frozen=True)
class FetchLimits:
    timeout_s: float = 30.0  # deadline on the whole fetch, redirects and body included
    connect_timeout_s: float = 10.0
    max_bytes: int = 10 * 1024 * 1024  # counted after decompression
    max_redirects: int = 5
    allow_private_addresses: bool = False
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch)"


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL, after redirects
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    not_modified: bool = False


class HttpStatusFetchError(HttpStatusError):
    """A status >= 400, with the URL and the Retry-After header (None when absent)."""

    def __init__(self, status: int, url: str, retry_after: str | None) -> None:
        self.url = url
        self.retry_after = retry_after
        super().__init__(status, f"{url}: HTTP {status}")


class Fetcher:
    """Thread-safe: one pooled httpx transport shared by every caller; no cookies kept."""

    def __init__(
        self,
        limits: FetchLimits,
        *,
        resolve: Resolver = system_resolver,
        address_allowed: AddressPolicy = is_public_address,
    ) -> None:
        self._limits = limits
        self._dns = CachedResolver(resolve)
        # No httpx.Client: a poller must keep no cookie jar (one shared by every feed and
        # article site would carry one site's cookies into the next request, a privacy leak),
        # and the client's per-request work (URL merging, cookie and header merging, auth,
        # hooks) was most of an unchanged poll's CPU. Requests go straight to the transport.
        self._transport = build_transport(
            dns=self._dns,
            allowed=address_allowed,
            guard_untrusted=not limits.allow_private_addresses,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self._timeout = httpx.Timeout(limits.timeout_s, connect=limits.connect_timeout_s).as_dict()
        self._headers = (
            ("Accept", "*/*"),
            ("Accept-Encoding", ACCEPT_ENCODING),
            ("Connection", "keep-alive"),
            ("User-Agent", limits.user_agent),
        )

    def fetch(
        self,
        url: str,
        *,
        trusted: bool,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET `url`. `trusted` (feed URLs from the user's configuration) lets the first hop
        reach private addresses; redirect hops and untrusted URLs never do unless allowed."""
        headers = self._headers + _conditional_headers(etag, last_modified)
        with deadline(self._limits.timeout_s):
            return self._follow(url, trusted=trusted, headers=headers)

    def close(self) -> None:
        self._transport.close()
        self._dns.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow(self, url: str, *, trusted: bool, headers: _Headers) -> FetchResult:
        seen = {url}
        current = url
        for hop in range(self._limits.max_redirects + 1):
            check_scheme(current)
            with self._translated(current):
                outcome = self._request(current, trusted and hop == 0, headers)
            if isinstance(outcome, FetchResult):
                return outcome
            if outcome in seen:
                raise FetchError(f"{url}: redirect loop at {outcome}")
            seen.add(outcome)
            current = outcome
        raise FetchError(f"{url}: more than {self._limits.max_redirects} redirects")

    def _request(self, url: str, trusted: bool, headers: _Headers) -> FetchResult | str:
        """One hop: the result, or the absolute URL a redirect points to."""
        extensions: dict[str, Any] = {"timeout": self._timeout}
        if trusted:
            extensions[TRUSTED_EXTENSION] = True
        request = httpx.Request("GET", _parsed_url(url), headers=headers, extensions=extensions)
        response = self._transport.handle_request(request)
        response.request = request
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_STATUSES and location:
                _drain_small(response)
                return str(request.url.join(location.strip()))
            return self._result(url, response)
        finally:
            response.close()

    def _result(self, url: str, response: httpx.Response) -> FetchResult:
        headers = {name.lower(): value for name, value in response.headers.items()}
        status = response.status_code
        if status == 304:
            _drain_small(response)
            return FetchResult(str(response.url), status, headers, b"", not_modified=True)
        if status >= 400:
            raise HttpStatusFetchError(status, url, headers.get("retry-after"))
        body = self._read_body(url, response)
        return FetchResult(str(response.url), status, headers, body)

    def _read_body(self, url: str, response: httpx.Response) -> bytes:
        cap = self._limits.max_bytes
        encoding = response.headers.get("content-encoding", "")
        declared = response.headers.get("content-length", "")
        if (
            encoding.strip().lower() in ("", "identity")
            and declared.isdigit()
            and int(declared) > cap
        ):
            raise TooLargeError(f"{url}: Content-Length {declared} exceeds {cap} bytes")
        pieces: list[bytes] = []
        total = 0
        # iter_raw, not iter_bytes: httpx would inflate each network chunk whole.
        for piece in decode_stream(response.iter_raw(), encoding):
            total += len(piece)
            if total > cap:
                raise TooLargeError(f"{url}: body exceeds {cap} bytes (after decompression)")
            pieces.append(piece)
        return b"".join(pieces)

    @contextmanager
    def _translated(self, url: str) -> Iterator[None]:
        """Turn httpx and decoding errors into worker.errors, each naming the URL."""
        try:
            yield
        except BlockedAddressError as exc:
            raise BlockedAddressError(f"{url}: {exc}") from None
        except FetchTimeoutError as exc:  # DNS took longer than the time left
            raise FetchTimeoutError(f"{url}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise FetchTimeoutError(self._timeout_message(url, exc)) from None
        except httpx.InvalidURL as exc:
            raise FetchError(f"{url}: invalid URL: {exc}") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        except BodyDecodeError as exc:
            raise FetchError(f"{url}: {exc}") from None

    def _timeout_message(self, url: str, exc: httpx.TimeoutException) -> str:
        if deadline_passed():
            return f"{url}: download exceeded the {self._limits.timeout_s:g}s deadline"
        if isinstance(exc, httpx.ConnectTimeout):
            return f"{url}: connecting took longer than {self._limits.connect_timeout_s:g}s"
        return f"{url}: timed out ({type(exc).__name__})"


@lru_cache(maxsize=16384)
def _parsed_url(url: str) -> httpx.URL:
    """Feed URLs come back every poll; parsing one is a tenth of a 304's CPU. httpx.URL is
    immutable, and a request copies it, so one parsed instance serves every request."""
    return httpx.URL(url)


def _drain_small(response: httpx.Response) -> None:
    """Read a body nobody wants (304, redirect) to its end when it is small: httpcore returns a
    connection to the pool only once the response was read through; closing it unread throws
    the connection away, and the next poll of the host pays a new TCP (and TLS) handshake."""
    declared = response.headers.get("content-length", "0" if response.status_code == 304 else "")
    if not declared.isdigit() or int(declared) > _DRAIN_MAX_BYTES:
        return
    for _ in response.iter_raw():
        pass


def _conditional_headers(etag: str | None, last_modified: str | None) -> _Headers:
    if etag and last_modified:
        return (("If-None-Match", etag), ("If-Modified-Since", last_modified))
    if etag:
        return (("If-None-Match", etag),)
    if last_modified:
        return (("If-Modified-Since", last_modified),)
    return ()
