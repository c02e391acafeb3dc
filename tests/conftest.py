"""Shared fixtures: a real Redis (embedded by default, `REDIS_URL` when set) and local servers.

Every test gets its own key prefix, so tests never see each other's streams, even on a shared
external server, and the prefix's keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.corpus import require_corpus
from tests.support.httpserver import LocalServer
from worker.queue.connection import open_client
from worker.queue.embedded import EmbeddedRedis
from worker.queue.keys import Keys


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    conn = open_client(redis_url)  # a cluster client when REDIS_URL is redis+cluster://
    try:
        yield conn
    finally:
        stale = list(conn.scan_iter(match=f"{{{prefix}:*"))
        if stale:
            conn.delete(*stale)
        conn.close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def corpus() -> Path:
    return require_corpus()
