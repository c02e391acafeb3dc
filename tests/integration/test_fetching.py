"""Fetcher against real local servers: conditional GET, caps, deadline, redirects, SSRF guard."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Sequence

import brotli
import pytest

from tests.support.httpserver import LocalServer, Request, Response
from worker.errors import (
    BlockedAddressError,
    FetchError,
    FetchTimeoutError,
    HttpStatusError,
    TooLargeError,
)
from worker.fetching import Fetcher, FetchLimits, HttpStatusFetchError
from worker.fetching.guard import IPAddress

MB = 1024 * 1024
LOCAL = FetchLimits(timeout_s=5, connect_timeout_s=2, max_bytes=MB, allow_private_addresses=True)
GUARDED = FetchLimits(timeout_s=5, connect_timeout_s=2, max_bytes=MB)


@pytest.fixture
def local() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as fetcher:
        yield fetcher


@pytest.fixture
def guarded() -> Iterator[Fetcher]:
    with Fetcher(GUARDED) as fetcher:
        yield fetcher


class RawServer:
    """A raw socket server for what http.server cannot do: drip bytes, omit Content-Length."""

    def __init__(self, respond: Callable[[socket.socket, RawServer], None]) -> None:
        self.respond = respond
        self.sent = 0
        self.stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            try:
                self.respond(conn, self)
            except OSError:
                return  # the client hung up, as it should

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._sock.close()
        self._thread.join(timeout=5)


def drip_body(conn: socket.socket, server: RawServer) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    while not server.stop.wait(0.5):
        server.send(conn, b"x")


def drip_headers(conn: socket.socket, server: RawServer) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000:
        if server.stop.wait(0.5):
            return
        server.send(conn, bytes([byte]))


def close_delimited(size: int) -> Callable[[socket.socket, RawServer], None]:
    def respond(conn: socket.socket, server: RawServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(size // 65536):
            server.send(conn, b"a" * 65536)

    return respond


def gzip_bomb(megabytes: int) -> bytes:
    """A valid gzip of `megabytes` MiB of zeros, built without compressing them all: after a full
    flush, each further MiB of zeros compresses to the same bytes."""
    zeros = bytes(MB)
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    repeat = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    end = deflater.flush()[:-8]  # the trailer it computed covers two MiB only
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (megabytes * MB) & 0xFFFFFFFF)
    return first + repeat * (megabytes - 1) + end + trailer


def brotli_bomb(megabytes: int) -> bytes:
    compressor = brotli.Compressor(quality=1)
    zeros = bytes(MB)
    return b"".join([compressor.process(zeros) for _ in range(megabytes)] + [compressor.finish()])


# --- conditional GET, headers, statuses ---------------------------------------------------


def conditional(request: Request) -> Response:
    if request.headers.get("If-None-Match") == '"v1"':
        return Response(304)
    if request.headers.get("If-Modified-Since") == "Sun, 01 Nov 2026 10:00:00 GMT":
        return Response(304)
    return Response(200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Sun, 01 Nov 2026"})


def test_plain_get_returns_body_headers_and_sends_user_agent(
    server: LocalServer, local: Fetcher
) -> None:
    url = server.route("/feed", Response(200, b"<rss/>", {"X-Custom": "yes"}))
    result = local.fetch(url, trusted=True)
    assert (result.status, result.body, result.url, result.not_modified) == (
        200,
        b"<rss/>",
        url,
        False,
    )
    assert result.headers["x-custom"] == "yes"
    assert server.requests_to("/feed")[0].headers["User-Agent"] == LOCAL.user_agent


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [('"v1"', None), (None, "Sun, 01 Nov 2026 10:00:00 GMT")],
)
def test_conditional_get_yields_not_modified(
    server: LocalServer, local: Fetcher, etag: str | None, last_modified: str | None
) -> None:
    url = server.route("/feed", conditional)
    result = local.fetch(url, trusted=True, etag=etag, last_modified=last_modified)
    assert (result.status, result.not_modified, result.body) == (304, True, b"")


def test_first_get_carries_no_conditional_headers(server: LocalServer, local: Fetcher) -> None:
    url = server.route("/feed", conditional)
    result = local.fetch(url, trusted=True)
    assert (result.status, result.headers["etag"]) == (200, '"v1"')
    sent = server.requests_to("/feed")[0].headers
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_error_status_raises_with_retry_after(server: LocalServer, local: Fetcher) -> None:
    url = server.route("/busy", Response(503, b"later", {"Retry-After": "120"}))
    with pytest.raises(HttpStatusFetchError) as info:
        local.fetch(url, trusted=True)
    assert isinstance(info.value, HttpStatusError)
    assert (info.value.status, info.value.retry_after) == (503, "120")
    assert url in str(info.value)


def test_not_found_has_no_retry_after(server: LocalServer, local: Fetcher) -> None:
    with pytest.raises(HttpStatusFetchError) as info:
        local.fetch(server.url("/missing"), trusted=True)
    assert (info.value.status, info.value.retry_after) == (404, None)


def test_connection_refused_is_a_fetch_error_naming_the_url(local: Fetcher) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"
    with pytest.raises(FetchError) as info:
        local.fetch(url, trusted=True)
    assert url in str(info.value)
    assert type(info.value).__module__ == "worker.errors"


# --- content codings and size caps ----------------------------------------------------------

TEXT = b"<p>Hello, wirewatch.</p>" * 2000


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT, wbits=-zlib.MAX_WBITS)),  # raw deflate, seen in the wild
        ("br", brotli.compress(TEXT)),
        ("br, gzip", gzip.compress(brotli.compress(TEXT))),
        ("identity", TEXT),
    ],
    ids=["gzip", "zlib-deflate", "raw-deflate", "br", "br-then-gzip", "identity"],
)
def test_content_codings_are_decoded(
    server: LocalServer, local: Fetcher, coding: str, encoded: bytes
) -> None:
    url = server.route("/page", Response(200, encoded, {"Content-Encoding": coding}))
    assert local.fetch(url, trusted=False).body == TEXT


def test_corrupt_gzip_is_a_fetch_error(server: LocalServer, local: Fetcher) -> None:
    url = server.route("/bad", Response(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="gzip"):
        local.fetch(url, trusted=False)


def test_declared_length_over_cap_is_refused(server: LocalServer, local: Fetcher) -> None:
    url = server.route("/big", Response(200, b"a" * (2 * MB)))
    with pytest.raises(TooLargeError):
        local.fetch(url, trusted=False)


def test_body_without_length_is_counted_and_cut(local: Fetcher) -> None:
    with RawServer(close_delimited(8 * MB)) as raw, pytest.raises(TooLargeError):
        local.fetch(raw.url(), trusted=False)
    assert raw.sent < 8 * MB


def test_body_exactly_at_cap_is_accepted(server: LocalServer, local: Fetcher) -> None:
    url = server.route(
        "/edge", Response(200, gzip.compress(b"b" * MB), {"Content-Encoding": "gzip"})
    )
    assert len(local.fetch(url, trusted=False).body) == MB


@pytest.mark.parametrize(
    ("coding", "bomb"), [("gzip", gzip_bomb(200)), ("br", brotli_bomb(200))], ids=["gzip", "br"]
)
def test_compression_bomb_stops_at_cap_with_small_memory(
    server: LocalServer, local: Fetcher, coding: str, bomb: bytes
) -> None:
    url = server.route("/bomb", Response(200, bomb, {"Content-Encoding": coding}))
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError, match="after decompression"):
            local.fetch(url, trusted=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB  # 200 MB inflated whole would be 25x this


def test_gzip_bomb_helper_is_a_valid_gzip() -> None:
    bomb = gzip_bomb(3)
    assert gzip.decompress(bomb) == bytes(3 * MB)


# --- the whole-download deadline -------------------------------------------------------------


@pytest.mark.parametrize("respond", [drip_body, drip_headers], ids=["body", "headers"])
def test_slow_drip_is_cut_off_at_the_deadline(
    respond: Callable[[socket.socket, RawServer], None],
) -> None:
    limits = FetchLimits(timeout_s=2, connect_timeout_s=1, allow_private_addresses=True)
    with Fetcher(limits) as fetcher, RawServer(respond) as raw:
        with pytest.raises(FetchTimeoutError, match="2s deadline"):
            fetcher.fetch(raw.url(), trusted=True)
        # Each byte arrives well within any per-read timeout; only the deadline stops it.
        assert raw.sent <= 6


# --- redirects -----------------------------------------------------------------------------


def test_relative_redirect_is_followed_and_final_url_reported(
    server: LocalServer, local: Fetcher
) -> None:
    server.route("/old", Response(301, b"", {"Location": "/new"}))
    target = server.route("/new", Response(200, b"moved"))
    result = local.fetch(server.url("/old"), trusted=True)
    assert (result.url, result.body) == (target, b"moved")


def test_conditional_headers_survive_redirects(server: LocalServer, local: Fetcher) -> None:
    server.route("/old", Response(302, b"", {"Location": "/feed"}))
    server.route("/feed", conditional)
    assert local.fetch(server.url("/old"), trusted=True, etag='"v1"').not_modified


def test_redirect_loop_is_an_error(server: LocalServer, local: Fetcher) -> None:
    server.route("/a", Response(302, b"", {"Location": "/b"}))
    server.route("/b", Response(302, b"", {"Location": "/a"}))
    with pytest.raises(FetchError, match="redirect loop"):
        local.fetch(server.url("/a"), trusted=True)


def chain(server: LocalServer, length: int) -> str:
    for i in range(length):
        server.route(f"/r{i}", Response(307, b"", {"Location": f"/r{i + 1}"}))
    server.route(f"/r{length}", Response(200, b"end"))
    return server.url("/r0")


def test_too_many_redirects(server: LocalServer) -> None:
    limits = FetchLimits(max_redirects=3, allow_private_addresses=True)
    with Fetcher(limits) as fetcher:
        assert fetcher.fetch(chain(server, 3), trusted=True).body == b"end"
        with pytest.raises(FetchError, match="more than 3 redirects"):
            fetcher.fetch(chain(server, 4), trusted=True)


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:6379/_INFO"],
)
def test_redirect_to_other_scheme_is_refused(
    server: LocalServer, local: Fetcher, location: str
) -> None:
    url = server.route("/go", Response(302, b"", {"Location": location}))
    with pytest.raises(BlockedAddressError, match="scheme"):
        local.fetch(url, trusted=True)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/", "gopher://x/"])
def test_other_schemes_are_refused_even_when_trusted(local: Fetcher, url: str) -> None:
    with pytest.raises(BlockedAddressError, match="scheme"):
        local.fetch(url, trusted=True)


# --- the SSRF guard on real connections ---------------------------------------------------


def test_untrusted_loopback_link_is_blocked(server: LocalServer, guarded: Fetcher) -> None:
    url = server.route("/admin", Response(200, b"secret"))
    with pytest.raises(BlockedAddressError, match="not a public address"):
        guarded.fetch(url, trusted=False)
    assert server.requests_to("/admin") == []


def test_allow_private_addresses_lets_untrusted_loopback_through(
    server: LocalServer, local: Fetcher
) -> None:
    url = server.route("/admin", Response(200, b"ok"))
    assert local.fetch(url, trusted=False).body == b"ok"


def test_trusted_feed_on_loopback_is_fetched(server: LocalServer, guarded: Fetcher) -> None:
    url = server.route("/feed", Response(200, b"<rss/>"))
    assert guarded.fetch(url, trusted=True).body == b"<rss/>"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:{port}/internal",
        "http://[::ffff:127.0.0.1]:{port}/internal",
        "http://2130706433:{port}/internal",
        "http://100.64.0.1/",
    ],
)
def test_redirect_from_trusted_feed_to_private_address_is_blocked(
    server: LocalServer, guarded: Fetcher, location: str
) -> None:
    server.route("/internal", Response(200, b"secret"))
    url = server.route("/feed", Response(302, b"", {"Location": location.format(port=server.port)}))
    with pytest.raises(BlockedAddressError):
        guarded.fetch(url, trusted=True)
    assert server.requests_to("/internal") == []


def test_trusted_connection_is_not_reused_for_untrusted_request(
    server: LocalServer, guarded: Fetcher
) -> None:
    url = server.route("/feed", Response(200, b"<rss/>"))
    guarded.fetch(url, trusted=True)
    with pytest.raises(BlockedAddressError):
        guarded.fetch(url, trusted=False)
    assert len(server.requests_to("/feed")) == 1


def fixed_dns(table: dict[str, str]) -> Callable[[str, int], Sequence[IPAddress]]:
    def resolve(host: str, port: int) -> Sequence[IPAddress]:
        return [ipaddress.ip_address(table[host])] if host in table else []

    return resolve


def test_connection_goes_to_the_checked_address(server: LocalServer) -> None:
    """`.invalid` never resolves in real DNS: reaching the server proves the socket went to the
    address the guard's resolver returned, with the host name kept in the Host header."""
    route = server.route("/page", Response(200, b"pinned"))
    assert route.startswith("http://127.0.0.1:")
    resolve = fixed_dns({"pinned.invalid": "127.0.0.1"})
    with Fetcher(GUARDED, resolve=resolve, address_allowed=lambda ip: ip.is_loopback) as fetcher:
        result = fetcher.fetch(f"http://pinned.invalid:{server.port}/page", trusted=False)
    assert result.body == b"pinned"
    assert server.requests_to("/page")[0].headers["Host"] == f"pinned.invalid:{server.port}"


def test_name_resolving_to_private_address_is_blocked(server: LocalServer) -> None:
    server.route("/page", Response(200, b"secret"))
    resolve = fixed_dns({"rebind.invalid": "127.0.0.1"})
    with Fetcher(GUARDED, resolve=resolve) as fetcher, pytest.raises(BlockedAddressError):
        fetcher.fetch(f"http://rebind.invalid:{server.port}/page", trusted=False)
    assert server.requests_to("/page") == []
