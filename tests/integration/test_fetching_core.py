"""The fetcher talks to httpcore's pool directly: response headers must come out as httpx gave
them (decoded ASCII, else UTF-8, else Latin-1; repeated names joined), validators go back byte
for byte as received, and the Host header is the URL's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rawserver import KeepAliveServer
from worker.fetching import Fetcher, FetchLimits

LOCAL = FetchLimits(timeout_s=5, connect_timeout_s=2, allow_private_addresses=True)


def raw_response(*headers: bytes, body: bytes = b"<rss/>") -> bytes:
    lines = [b"HTTP/1.1 200 OK", *headers, b"Content-Length: " + str(len(body)).encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as f:
        yield f


def test_repeated_headers_are_joined_and_names_lower_cased(fetcher: Fetcher) -> None:
    with KeepAliveServer([raw_response(b"X-Thing: a", b"x-thing: b", b'ETag: "v1"')]) as server:
        result = fetcher.fetch(f"http://127.0.0.1:{server.port}/feed", trusted=True)
        assert result.headers["x-thing"] == "a, b"
        assert result.headers["etag"] == '"v1"'
        assert result.body == b"<rss/>"
        assert server.heads[0].split(b"\r\n")[1] == f"Host: 127.0.0.1:{server.port}".encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b'"caf\xc3\xa9"', '"café"'), (b'"caf\xe9"', '"café"')],
    ids=["utf-8", "latin-1"],
)
def test_non_ascii_validator_is_decoded_and_sent_back_byte_for_byte(
    fetcher: Fetcher, raw: bytes, expected: str
) -> None:
    with KeepAliveServer([raw_response(b"ETag: " + raw, b"Last-Modified: " + raw)]) as server:
        url = f"http://127.0.0.1:{server.port}/feed"
        result = fetcher.fetch(url, trusted=True)
        assert result.headers["etag"] == expected  # readable, as httpx decoded it
        kept = result.validators
        fetcher.fetch(url, trusted=True, etag=kept["etag"], last_modified=kept["last_modified"])
        lines = server.heads[1].split(b"\r\n")
        # What the server sent, whatever its encoding: anything else never matches, no 304.
        assert b"If-None-Match: " + raw in lines
        assert b"If-Modified-Since: " + raw in lines


def test_a_validator_stored_decoded_by_an_older_version_is_sent_as_utf_8(fetcher: Fetcher) -> None:
    with KeepAliveServer([raw_response(b'ETag: "v"')]) as server:
        fetcher.fetch(f"http://127.0.0.1:{server.port}/feed", trusted=True, etag='"€"')
        assert b'If-None-Match: "\xe2\x82\xac"' in server.heads[0].split(b"\r\n")


def test_redirect_location_joined_against_the_url(fetcher: Fetcher) -> None:
    target = raw_response()
    with KeepAliveServer([target]) as final:
        moved = b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:%d/new?x=1\r\n" % final.port
        with KeepAliveServer([moved + b"Content-Length: 0\r\n\r\n"]) as start:
            result = fetcher.fetch(f"http://127.0.0.1:{start.port}/old", trusted=True)
            assert result.url == f"http://127.0.0.1:{final.port}/new?x=1"
            assert final.heads[0].startswith(b"GET /new?x=1 HTTP/1.1")
