"""Connections and DNS under the fetcher: keep-alive reuse, and lookups bounded and remembered."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator

import pytest

from tests.support.httpserver import LocalServer, Response
from tests.support.rawserver import KeepAliveServer
from worker.errors import BlockedAddressError, FetchTimeoutError
from worker.fetching import Fetcher, FetchLimits, is_public_address
from worker.fetching.guard import IPAddress
from worker.fetching.resolving import CachedResolver, allow_any

LOOPBACK = ipaddress.ip_address("127.0.0.1")


OK = b'HTTP/1.1 200 OK\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\nhello'
NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'
NOT_MODIFIED_EMPTY = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n"
REDIRECT = b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 4\r\n\r\nmove"


@pytest.mark.parametrize(
    "answers",
    [[OK, NOT_MODIFIED], [OK, NOT_MODIFIED_EMPTY], [REDIRECT, OK, REDIRECT, OK]],
    ids=["304", "304-content-length-0", "redirect"],
)
def test_unread_bodies_do_not_cost_a_new_connection(answers: list[bytes]) -> None:
    limits = FetchLimits(timeout_s=5, allow_private_addresses=True)
    with KeepAliveServer(answers) as server, Fetcher(limits) as fetcher:
        url = f"http://127.0.0.1:{server.port}/feed"
        results = [fetcher.fetch(url, trusted=True, etag='"v1"') for _ in range(4)]
    assert server.connections == 1
    assert results[-1].status in (200, 304)


# --- DNS: bounded by the deadline ------------------------------------------------------------


@pytest.fixture
def hung_dns() -> Iterator[threading.Event]:
    """A resolver that never answers until the test ends (as a dead DNS server)."""
    release = threading.Event()
    yield release
    release.set()


def test_a_hung_dns_lookup_ends_at_the_fetch_deadline(hung_dns: threading.Event) -> None:
    def resolve(host: str, port: int) -> list[IPAddress]:
        hung_dns.wait()
        return [LOOPBACK]

    limits = FetchLimits(timeout_s=0.5, connect_timeout_s=5, allow_private_addresses=True)
    with Fetcher(limits, resolve=resolve) as fetcher:
        with pytest.raises(FetchTimeoutError, match=r"resolving slow\.invalid took longer"):
            fetcher.fetch("http://slow.invalid/feed", trusted=True)
        with pytest.raises(FetchTimeoutError, match=r"http://slow\.invalid/a: resolving"):
            fetcher.fetch("http://slow.invalid/a", trusted=False)


def test_a_lookup_timeout_names_the_host() -> None:
    release = threading.Event()
    dns = CachedResolver(lambda host, port: [LOOPBACK] if release.wait() else [])
    try:
        with pytest.raises(FetchTimeoutError, match=r"resolving feeds\.invalid .* 0\.2s"):
            dns.lookup("feeds.invalid", 80, allow_any, 0.2)
    finally:
        release.set()
        dns.close()


# --- DNS: answers remembered briefly, still checked on every use -----------------------------


class CountingDns:
    def __init__(self, answer: str) -> None:
        self.answer = ipaddress.ip_address(answer)
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls += 1
        return [self.answer]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("later_s", "calls"), [(0.0, 1), (59.0, 1), (61.0, 2)], ids=["same", "fresh", "expired"]
)
def test_answers_are_kept_for_the_ttl(later_s: float, calls: int) -> None:
    dns, clock = CountingDns("93.184.216.34"), Clock()
    cache = CachedResolver(dns, ttl_s=60.0, clock=clock)
    try:
        first = cache.lookup("news.example", 443, is_public_address, 1.0)
        clock.now += later_s
        assert cache.lookup("NEWS.example", 443, is_public_address, 1.0) == first
    finally:
        cache.close()
    assert dns.calls == calls


def test_a_remembered_answer_is_checked_again_by_each_policy() -> None:
    dns = CountingDns("10.0.0.7")
    cache = CachedResolver(dns)
    try:
        assert cache.lookup("intranet.example", 80, allow_any, 1.0) == [dns.answer]
        with pytest.raises(BlockedAddressError, match=r"10\.0\.0\.7"):
            cache.lookup("intranet.example", 80, is_public_address, 1.0)
    finally:
        cache.close()
    assert dns.calls == 1


def test_new_connections_to_one_host_share_one_lookup(server: LocalServer) -> None:
    """http.server closes every connection, so each fetch connects again: DNS is asked once."""
    server.route("/page", Response(200, b"hi"))
    dns = CountingDns("127.0.0.1")
    limits = FetchLimits(timeout_s=5)
    with Fetcher(limits, resolve=dns, address_allowed=lambda ip: ip.is_loopback) as fetcher:
        for _ in range(3):
            assert fetcher.fetch(f"http://pinned.invalid:{server.port}/page", trusted=False).body
    assert len(server.requests_to("/page")) == 3
    assert dns.calls == 1
