"""Crafted attacks the issue lists that other fetching tests do not already cover."""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence

import pytest

from tests.support.httpserver import LocalServer, Response
from worker.errors import BlockedAddressError, TooLargeError
from worker.fetching import Fetcher, FetchLimits, is_public_address
from worker.fetching.guard import IPAddress

GB = 1024**3


def gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(16 * 1024 * 1024)
    parts = [packer.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, packer.flush()])


def test_a_gzip_bomb_inflating_to_1_gb_is_cut_at_the_cap(server: LocalServer) -> None:
    bomb = gzip_of_zeros(GB)
    assert len(bomb) < 2 * 1024 * 1024
    url = server.route("/bomb.xml", Response(200, bomb, {"Content-Encoding": "gzip"}))
    fetcher = Fetcher(FetchLimits(max_bytes=10_000_000))
    with fetcher, pytest.raises(TooLargeError, match="after decompression"):
        fetcher.fetch(url, trusted=True)


def news_test_resolver(host: str, port: int) -> Sequence[IPAddress]:
    """`news.test` is the local server, standing in for a public news site."""
    return [ipaddress.ip_address("127.0.0.1")] if host == "news.test" else []


def only_the_news_site(ip: IPAddress) -> bool:
    return str(ip) == "127.0.0.1" or is_public_address(ip)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://10.0.0.1/"],
)
def test_an_article_link_redirecting_to_internal_addresses_is_refused(
    server: LocalServer, target: str
) -> None:
    server.route("/story", Response(302, b"", {"Location": target}))
    fetcher = Fetcher(FetchLimits(), resolve=news_test_resolver, address_allowed=only_the_news_site)
    with fetcher, pytest.raises(BlockedAddressError):
        fetcher.fetch(f"http://news.test:{server.port}/story", trusted=False)
    assert [r.path for r in server.requests] == ["/story"]
