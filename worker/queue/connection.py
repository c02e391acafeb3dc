"""Connecting to Redis: an external server when a URL is configured, else the embedded one.

`redis+cluster://host:port[,host:port...]` (and `rediss+cluster://` for TLS) opens a Redis
Cluster client: it discovers the other nodes from any one given, follows slot moves and
failovers, and sends each script, transaction and pipeline command to the node of its slot
(every key wirewatch uses carries a hash tag, worker/queue/keys.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from worker.errors import ConfigError, QueueError
from worker.queue.embedded import EmbeddedRedis

# Either client: RedisCluster answers the same commands; wirewatch keeps each script's and each
# transaction's keys in one slot so that every call works on both.
Client = redis.Redis | RedisCluster
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def open_client(url: str) -> Client:
    """A client for `url` (redis://, rediss://, unix://, or a cluster URL) that has answered a
    PING."""
    try:
        client = cluster_client(url) if is_cluster_url(url) else single_client(url)
        client.ping()
    except redis.RedisError as exc:
        raise QueueError(f"cannot reach Redis at {redact_url(url)}: {exc}") from exc
    return client


def single_client(url: str) -> Client:
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The `host:port` list of a cluster URL; ConfigError when it has none or a bad one."""
    netloc = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
    nodes = []
    for part in filter(None, netloc.split(",")):
        host, sep, port = part.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError([f"redis_url: {part!r} in {redact_url(url)} is not host:port"])
        nodes.append((host.strip("[]"), int(port)))
    if not nodes:
        raise ConfigError([f"redis_url: {redact_url(url)} names no cluster node"])
    return nodes


def cluster_credentials(url: str) -> dict[str, Any]:
    """User, password and TLS of a cluster URL, as either RedisCluster client takes them."""
    first = url.split(",", 1)[0]  # urlsplit reads user and password from the first node
    parts = urlsplit(first.replace("+cluster", "", 1))
    return {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": url.startswith("rediss+"),
    }


def cluster_client(url: str) -> Client:
    """A RedisCluster on the nodes of `url`, with its user and password, TLS for rediss+."""
    nodes = [ClusterNode(host, port) for host, port in cluster_nodes(url)]  # type: ignore[no-untyped-call]
    return RedisCluster(
        startup_nodes=nodes,
        decode_responses=True,
        health_check_interval=30,
        **cluster_credentials(url),
    )


def async_client(url: str) -> Any:
    """The asyncio counterpart of `open_client` (the web role's event loop), not yet connected:
    a cluster URL gives an asyncio RedisCluster, any other a plain asyncio Redis. Its replies
    are bytes, not str: the web role's hot path (a page of alerts) passes them on undecoded."""
    if not is_cluster_url(url):
        return redis.asyncio.Redis.from_url(url, health_check_interval=30)
    nodes = [AsyncClusterNode(host, port) for host, port in cluster_nodes(url)]
    return AsyncRedisCluster(startup_nodes=nodes, **cluster_credentials(url))


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
