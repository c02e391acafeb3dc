"""What the fetcher sends: no cookies ever kept, validators and fixed headers on every request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.httpserver import LocalServer, Response
from worker.fetching import Fetcher, FetchLimits

LOCAL = FetchLimits(timeout_s=5, connect_timeout_s=2, allow_private_addresses=True)
SET_COOKIE = {"Set-Cookie": "session=secret; Path=/"}


@pytest.fixture
def local() -> Iterator[Fetcher]:
    with Fetcher(LOCAL) as fetcher:
        yield fetcher


def test_a_cookie_set_by_one_response_is_not_sent_on_the_next_request(
    server: LocalServer, local: Fetcher
) -> None:
    first = server.route("/a", Response(200, b"<rss/>", SET_COOKIE))
    second = server.route("/b", Response(200, b"<rss/>"))
    local.fetch(first, trusted=True)
    local.fetch(second, trusted=True)
    local.fetch(first, trusted=True)
    sent = server.requests_to("/b") + server.requests_to("/a")
    assert len(sent) == 3
    assert all("Cookie" not in request.headers for request in sent)


def test_a_cookie_set_by_a_redirect_is_not_sent_to_its_target(
    server: LocalServer, local: Fetcher
) -> None:
    target = server.route("/target", Response(200, b"<rss/>"))
    start = server.route("/start", Response(302, b"", {"Location": target, **SET_COOKIE}))
    assert local.fetch(start, trusted=True).url == target
    assert "Cookie" not in server.requests_to("/target")[0].headers


def test_both_validators_and_the_fixed_headers_are_sent(
    server: LocalServer, local: Fetcher
) -> None:
    url = server.route("/feed", Response(304))
    modified = "Sun, 01 Nov 2026 10:00:00 GMT"
    assert local.fetch(url, trusted=True, etag='"v1"', last_modified=modified).not_modified
    sent = server.requests_to("/feed")[0].headers
    assert (sent["If-None-Match"], sent["If-Modified-Since"]) == ('"v1"', modified)
    assert (sent["User-Agent"], sent["Accept"]) == (LOCAL.user_agent, "*/*")
    assert "gzip" in sent["Accept-Encoding"]
