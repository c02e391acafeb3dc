"""Connecting to Redis: an external server when a URL is configured, else the embedded one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from worker.errors import QueueError
from worker.queue.embedded import EmbeddedRedis

Client = redis.Redis


def open_client(url: str) -> Client:
    """A client for `url` (redis://, rediss:// or unix://) that has answered a PING."""
    try:
        client = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        client.ping()
    except redis.RedisError as exc:
        raise QueueError(f"cannot reach Redis at {redact_url(url)}: {exc}") from exc
    return client


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def resolve_redis(url: str | None, data_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    """The URL to use, starting the embedded server under data_dir when no URL is configured."""
    if url:
        return url, None
    embedded = EmbeddedRedis(data_dir).start()
    return embedded.url, embedded


# redis-py's annotations describe every mode at once (bytes or str replies, sync or async), so
# these two helpers narrow them where wirewatch always uses decoded replies.
def read_hash(client: Client, key: str) -> dict[str, str]:
    reply: Any = client.hgetall(key)
    return {str(field): str(value) for field, value in reply.items()}


def read_hashes(client: Client, keys: Sequence[str], batch: int = 1000) -> list[dict[str, str]]:
    """`read_hash` of each key, in order, in pipelined batches (one round trip per batch, not
    per key: `wirewatch feeds` reads one hash per feed, and there may be tens of thousands)."""
    found: list[dict[str, str]] = []
    for start in range(0, len(keys), batch):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + batch]:
            pipe.hgetall(key)
        replies: Any = pipe.execute()
        found.extend({str(f): str(v) for f, v in reply.items()} for reply in replies)
    return found


def write_hash(client: Client, key: str, fields: Mapping[str, str]) -> None:
    mapping: Any = dict(fields)
    client.hset(key, mapping=mapping)


def hash_float(fields: Mapping[str, str], name: str) -> float | None:
    """A number kept in a Redis hash field (as text); None when empty, absent or not a number:
    a stale or hand-edited field must not stop the role that reads it."""
    try:
        return float(fields[name]) if fields.get(name) else None
    except ValueError:
        return None
