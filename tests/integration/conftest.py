"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.websub import World, built_world
from worker.queue.keys import Keys


@pytest.fixture
def world(client: redis.Redis, keys: Keys) -> Iterator[World]:
    with built_world(client, keys) as world:
        yield world
