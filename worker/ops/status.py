"""`wirewatch status`: queues, consumers, endpoints and the oldest undelivered alert, from Redis."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis

from worker.alerts.breaker import BreakerPolicy
from worker.alerts.store import DeliveryRecord, DeliveryStore
from worker.queue.connection import Client, hash_float
from worker.queue.keys import ALERTS_GROUP, ARCHIVE_GROUP, ITEMS_GROUP, ROLES_WITH_INSTANCES, Keys
from worker.queue.liveness import Registry
from worker.queue.partitions import ItemShards


def stream_status(client: Client, stream: str, group: str) -> dict[str, Any]:
    try:
        groups: Any = client.xinfo_groups(stream)
        consumers: Any = client.xinfo_consumers(stream, group)
    except redis.ResponseError:  # the stream or group does not exist yet
        return {"length": 0, "pending": 0, "undelivered": 0, "consumers": []}
    empty: dict[str, Any] = {"pending": 0, "last-delivered-id": "0-0"}
    info: dict[str, Any] = next((g for g in groups if g["name"] == group), empty)
    after: Any = client.xrange(stream, f"({info['last-delivered-id']}", "+", count=10_000)
    return {
        "length": int(client.xlen(stream)),
        "pending": int(info["pending"]),
        "undelivered": len(after),
        "oldest_undelivered_at": entry_time(after[0][0]) if after else None,
        "consumers": [
            {
                "name": c["name"],
                "pending": int(c["pending"]),
                "idle_s": round(int(c["idle"]) / 1000, 1),
            }
            for c in consumers
        ],
    }


def items_status(client: Client, keys: Keys) -> dict[str, Any]:
    """The items queue: one stream's status, or the sum over every items shard in use
    (`queue.partitions`) with `partitions` and, per consumer, its pending entries over all."""
    shards = ItemShards(client, keys, 1).streams()
    if len(shards) == 1:
        return stream_status(client, shards[0], ITEMS_GROUP)
    return merged_status([stream_status(client, stream, ITEMS_GROUP) for stream in shards])


def merged_status(parts: list[dict[str, Any]]) -> dict[str, Any]:
    consumers: dict[str, dict[str, Any]] = {}
    for part in parts:
        for c in part["consumers"]:
            seen = consumers.setdefault(c["name"], {**c, "pending": 0})
            seen["pending"] += c["pending"]
            seen["idle_s"] = min(seen["idle_s"], c["idle_s"])
    oldest = [p["oldest_undelivered_at"] for p in parts if p.get("oldest_undelivered_at")]
    return {
        "length": sum(p["length"] for p in parts),
        "pending": sum(p["pending"] for p in parts),
        "undelivered": sum(p["undelivered"] for p in parts),
        "oldest_undelivered_at": min(oldest) if oldest else None,
        "consumers": list(consumers.values()),
        "partitions": len(parts),
    }


def instances_status(client: Client, keys: Keys, now: float) -> dict[str, Any]:
    """Per role, the live instances (with their heartbeat age) apart from the gone ones."""
    report: dict[str, Any] = {}
    for role in ROLES_WITH_INSTANCES:
        states = Registry(client, keys, role, lease_s=0.0).states()
        report[role] = {
            "live": [s.summary(now) for s in states if s.alive(now)],
            "gone": [s.summary(now) for s in states if not s.alive(now)],
        }
    return report


def entry_time(entry_id: str) -> float:
    return int(entry_id.split("-", maxsplit=1)[0]) / 1000


def endpoint_status(
    store: DeliveryStore, endpoint_id: str, policy: BreakerPolicy, now: float
) -> dict[str, Any]:
    state = store.state(endpoint_id)
    breaker = store.breaker(endpoint_id)
    health = "disabled" if state.get("disabled") else breaker.circuit(now, policy).value
    return {
        "endpoint": endpoint_id,
        "health": health,
        "disabled_reason": state.get("disabled") or None,
        "queued": int(store.client.zcard(store.keys.endpoint_due(endpoint_id))),
        "digest_buffered": int(store.client.llen(store.keys.digest_buffer(endpoint_id))),
        "consecutive_failures": breaker.failures,
        "last_success_at": hash_float(state, "last_success_at"),
        "last_error": state.get("last_error") or None,
    }


def oldest_delivery(client: Client, keys: Keys) -> float | None:
    oldest = None
    for _, raw in client.hscan_iter(keys.deliveries):
        created = DeliveryRecord.from_json(str(raw)).created_at
        oldest = created if oldest is None else min(oldest, created)
    return oldest


def collect(
    client: Client, keys: Keys, endpoint_ids: Iterable[str], policy: BreakerPolicy
) -> dict[str, Any]:
    now = time.time()
    store = DeliveryStore(client, keys)
    alerts = stream_status(client, keys.alerts_stream, ALERTS_GROUP)
    waiting = [t for t in (oldest_delivery(client, keys), alerts.get("oldest_undelivered_at")) if t]
    configured = set(endpoint_ids)
    ids = sorted(configured | store.known_endpoints())
    return {
        "items": items_status(client, keys),
        "alerts": alerts,
        "archive": stream_status(client, keys.archive_stream, ARCHIVE_GROUP),
        "dead_letters": {
            "items": sum(int(client.xlen(s)) for s in ItemShards(client, keys, 1).dead_streams()),
            "alerts": int(client.xlen(keys.deliveries_dead)),
            "archive": int(client.xlen(keys.archive_dead)),
        },
        # An endpoint not in this config still shows (its deliveries wait for it to come back).
        "endpoints": [
            endpoint_status(store, eid, policy, now) | {"configured": eid in configured}
            for eid in ids
        ],
        "oldest_undelivered_alert_age_s": round(now - min(waiting), 1) if waiting else None,
        "instances": instances_status(client, keys, now),
    }
