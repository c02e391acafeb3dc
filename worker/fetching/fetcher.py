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

import httpcore
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
from worker.fetching.transport import build_transport, core_chunks, deadline, deadline_passed

_Headers = tuple[tuple[bytes, bytes], ...]
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
    # ETag and Last-Modified byte for byte (see `_validators`), under "etag", "last_modified"
    validators: dict[str, str] = field(default_factory=dict)


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
        self._headers = _encoded(
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
        """One hop: the result, or the absolute URL a redirect points to. The request goes to
        httpcore's pool directly: httpx's Request and Response objects around it were a third
        of a 304's fetch CPU, and nothing of theirs is needed here."""
        target = _target(url)
        request = httpcore.Request(
            b"GET", target.core, headers=((b"Host", target.host_header), *headers),
            extensions={"timeout": self._timeout},
        )  # fmt: skip
        response = self._transport.send_core(request, trusted=trusted)
        try:
            received = _decoded_headers(response.headers)
            location = received.get("location")
            if response.status in REDIRECT_STATUSES and location:
                _drain_small(response, received)
                return str(target.url.join(location.strip()))
            return self._result(url, target.text, response, received)
        finally:
            response.close()

    def _result(
        self, url: str, final_url: str, response: httpcore.Response, headers: dict[str, str]
    ) -> FetchResult:
        status = response.status
        if status == 304:
            _drain_small(response, headers)
            return FetchResult(final_url, status, headers, b"", not_modified=True)
        if status >= 400:
            raise HttpStatusFetchError(status, url, headers.get("retry-after"))
        body = self._read_body(url, response, headers)
        return FetchResult(
            final_url, status, headers, body, validators=_validators(response.headers)
        )

    def _read_body(self, url: str, response: httpcore.Response, headers: dict[str, str]) -> bytes:
        cap = self._limits.max_bytes
        encoding = headers.get("content-encoding", "")
        declared = headers.get("content-length", "")
        if (
            encoding.strip().lower() in ("", "identity")
            and declared.isdigit()
            and int(declared) > cap
        ):
            raise TooLargeError(f"{url}: Content-Length {declared} exceeds {cap} bytes")
        pieces: list[bytes] = []
        total = 0
        # Raw chunks, inflated here piece by piece (bounded), never a network chunk whole.
        for piece in decode_stream(core_chunks(response), encoding):
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


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # for joining redirect locations
    core: httpcore.URL  # what httpx's transport would build (host IDNA-encoded, path raw)
    host_header: bytes
    text: str  # the URL as httpx writes it: the result's URL


@lru_cache(maxsize=16384)
def _target(url: str) -> _Target:
    """Feed URLs come back every poll; parsing one is a tenth of a 304's CPU. The parsed
    forms are immutable, so one instance serves every request."""
    parsed = httpx.URL(url)
    core = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    return _Target(parsed, core, parsed.netloc, str(parsed))


def _drain_small(response: httpcore.Response, headers: dict[str, str]) -> None:
    """Read a body nobody wants (304, redirect) to its end when it is small: httpcore returns a
    connection to the pool only once the response was read through; closing it unread throws
    the connection away, and the next poll of the host pays a new TCP (and TLS) handshake."""
    declared = headers.get("content-length", "0" if response.status == 304 else "")
    if not declared.isdigit() or int(declared) > _DRAIN_MAX_BYTES:
        return
    for _ in core_chunks(response):
        pass


def _decoded_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names to values, as httpx.Headers gives them: decoded as ASCII, else UTF-8,
    else Latin-1 (the first that fits every header), repeated names joined with ", "."""
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            pairs = [(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw]
        except UnicodeDecodeError:
            continue
        break
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


_VALIDATOR_NAMES = {b"etag": "etag", b"last-modified": "last_modified"}


def _validators(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ETag and Last-Modified as Latin-1 text, which maps each byte to one character: sent back
    in a conditional request they are the server's bytes, whatever their encoding (decoded as
    UTF-8 and encoded back, a Latin-1 ETag changed and the server never answered 304)."""
    found: dict[str, str] = {}
    for name, value in raw:
        key = _VALIDATOR_NAMES.get(name.lower())
        if key is not None:
            text = value.decode("iso-8859-1")
            found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def _encoded(*headers: tuple[str, str]) -> _Headers:
    return tuple((name.encode("ascii"), value.encode("ascii")) for name, value in headers)


def _conditional_headers(etag: str | None, last_modified: str | None) -> _Headers:
    """Validators as the server sent them (`FetchResult.validators`: Latin-1 text of its bytes).
    A value no Latin-1 text can hold was stored decoded by an older version: sent as UTF-8."""
    found = [("If-None-Match", etag), ("If-Modified-Since", last_modified)]
    return tuple((name.encode(), _validator_bytes(value)) for name, value in found if value)


def _validator_bytes(value: str) -> bytes:
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
