"""Torture: every file of the shared feed corpus, served over local HTTP with the `Header:` lines
of its test comment applied, polled in one run as configured feeds."""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
import redis

from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Response
from worker.feeds.parse import entry_identity
from worker.fetching import Fetcher, FetchLimits
from worker.fetching.politeness import HostGate, HostLimit
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.queue.keys import Keys
from worker.roles.scheduler import poll_feeds_once

_HEADER = re.compile(rb"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.M)


def corpus_headers(body: bytes) -> dict[str, str]:
    """The `Header: Name: value` lines of feedparser's test comments (first 1 KB)."""
    return {k.decode(): v.decode("latin-1") for k, v in _HEADER.findall(body[:1024])}


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=10, allow_private_addresses=True)) as f:
        yield f


def feedparser_identities(body: bytes, headers: dict[str, str], url: str) -> set[str]:
    response = {"content-type": "application/xml", "content-location": url}
    response.update({k.lower(): v for k, v in headers.items()})
    result = feedparser.parse(io.BytesIO(body), response_headers=response)
    ids = set()
    for e in result.entries:
        contents = e.get("content") or []
        content = str(contents[0].get("value", "")) if contents else ""
        title, link = str(e.get("title", "")), str(e.get("link", ""))
        ids.add(entry_identity(str(e.get("id", "")), link, title, content or e.get("summary", "")))
    return ids


def test_every_corpus_feed_ends_queued_or_in_a_clear_error(
    corpus: Path, server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    files = sorted(p for p in (corpus / "feeds").rglob("*") if p.is_file() and p.name != "LICENSE")
    served: dict[str, tuple[bytes, dict[str, str]]] = {}
    for path in files:
        body = path.read_bytes()
        headers = corpus_headers(body)
        url = server.route("/c/" + path.relative_to(corpus / "feeds").as_posix(),
                           Response(200, body, headers))  # fmt: skip
        served[url] = (body, headers)
    feeds = [Feed(url) for url in served]
    policy = PollPolicy(jitter=0.1, max_backoff_s=21600, seen_retention_s=86400)
    poller = FeedPoller(client, keys, fetcher, policy, get_logger(), time.time)
    gate = HostGate(client, keys, overrides={"127.0.0.1": HostLimit(8, 0.0)})

    counts = poll_feeds_once(poller, feeds, gate, concurrency=8)

    assert counts["feeds"] == len(files) > 2000
    queued = Counter(json.loads(f["item"])["feed_url"] for _id, f in entries(client, keys))
    mismatched = []
    for url, (body, headers) in served.items():
        state: dict[str, str] = client.hgetall(keys.feed_state(url))  # type: ignore[assignment]
        assert state["status"] in ("ok", "error"), url
        if state["status"] == "error":
            assert state["last_error"].split(":")[0] in ("not_a_feed", "fetch_error"), state
            continue
        if "/wellformed/" in url:
            expected = feedparser_identities(body, headers, url)
            if queued[url] != len(expected):
                mismatched.append((url, queued[url], len(expected)))
    assert not mismatched, mismatched[:10]
    assert sum(queued.values()) == counts["new_items"] > 1000


def entries(client: redis.Redis, keys: Keys) -> list[tuple[str, dict[str, str]]]:
    reply: Any = client.xrange(keys.items_stream)
    return list(reply)
