"""Dead letters: what could not be processed or delivered, why, and replaying it.

Two dead-letter streams exist: `{items}:dead` (items that failed processing N times; one per
items shard with `queue.partitions`, shard k's letters named `items:<k>/<entry id>`) and
`{alerts}:dead` (deliveries that ran out of tries or whose endpoint is gone, and alerts that could
not be taken). Each dead letter is shown with an id `items/<entry id>` or `alerts/<entry id>`.
Replaying puts it back where it came from with fresh attempts; each replay is one transaction on
one slot, so a dead letter is never both replayed and kept, nor lost.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from worker.alerts.store import DeliveryRecord
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.partitions import ItemShards

_ENTRY_ID = re.compile(r"[0-9]+-[0-9]+")


@dataclass(frozen=True)
class DeadLetter:
    id: str  # "items/<entry id>" or "alerts/<entry id>"
    kind: str  # "item", "alert" or "delivery"
    failed_at: float
    reason: str
    summary: str
    fields: dict[str, str]


def dead_streams(client: Client, keys: Keys) -> dict[str, str]:
    """Name -> dead-letter stream; items shard k > 0 (`queue.partitions`) is `items:<k>`."""
    items = ItemShards(client, keys, 1).dead_streams()
    named = {("items" if k == 0 else f"items:{k}"): stream for k, stream in enumerate(items)}
    return {**named, "alerts": keys.deliveries_dead}


def describe(stream_name: str, entry_id: str, fields: dict[str, str]) -> DeadLetter:
    failed_at = float(fields.get("failed_at") or int(entry_id.split("-", maxsplit=1)[0]) / 1000)
    ident = f"{stream_name}/{entry_id}"
    if "delivery_id" in fields:
        record = json.loads(fields.get("record") or "{}")
        tries = record.get("attempts")
        summary = (
            f"endpoint {fields.get('endpoint')} message {record.get('msg_id')} after {tries} tries"
        )
        return DeadLetter(ident, "delivery", failed_at, fields.get("reason", ""), summary, fields)
    original = json.loads(fields.get("fields") or "{}")
    kind = "item" if "item" in original else "alert"
    raw = original.get("item") or original.get("alert") or alert_of(original.get("body"))
    return DeadLetter(ident, kind, failed_at, fields.get("error", ""), summarise(raw), fields)


def alert_of(body: str | None) -> str:
    """The alert (`data`) inside an alert entry's webhook body, as JSON; the body as it is when
    it is not an envelope (a malformed entry is what gets dead-lettered)."""
    try:
        envelope = json.loads(body or "{}")
    except ValueError:
        return body or ""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    return json.dumps(data) if isinstance(data, dict) else (body or "{}")


def summarise(raw: str) -> str:
    """The link, id or title of a dead item or alert; the raw text when it is not JSON at all."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw[:80]
    if not isinstance(payload, dict):
        return raw[:80]
    return str(payload.get("link") or payload.get("alert_id") or payload.get("title") or "")


def list_dead(client: Client, keys: Keys, limit: int = 1000) -> list[DeadLetter]:
    letters = []
    for name, stream in dead_streams(client, keys).items():
        entries: Any = client.xrange(stream, count=limit)
        letters += [describe(name, eid, fields) for eid, fields in entries]
    return sorted(letters, key=lambda d: d.failed_at)


def replay(client: Client, keys: Keys, ids: Iterable[str]) -> list[str]:
    """Replay the named dead letters; returns the ids replayed (unknown ids are skipped)."""
    streams = dead_streams(client, keys)
    done = []
    for ident in ids:
        name, _, entry_id = ident.partition("/")
        stream = streams.get(name)
        # Redis refuses a malformed entry id with an error; such an id names no dead letter.
        if stream is None or not _ENTRY_ID.fullmatch(entry_id):
            continue
        found: Any = client.xrange(stream, entry_id, entry_id)
        if found:
            _replay_one(client, keys, stream, entry_id, found[0][1])
            done.append(ident)
    return done


def replay_all(client: Client, keys: Keys) -> list[str]:
    return replay(client, keys, [d.id for d in list_dead(client, keys, limit=100_000)])


def _replay_one(
    client: Client, keys: Keys, dead_stream: str, entry_id: str, fields: dict[str, str]
) -> None:
    pipe = client.pipeline(transaction=True)
    if "delivery_id" in fields:
        record = DeliveryRecord.from_json(fields["record"])
        record.attempts, record.last_error = 0, ""
        pipe.hset(keys.deliveries, fields["delivery_id"], record.to_json())
        pipe.zadd(keys.endpoint_due(record.endpoint), {fields["delivery_id"]: time.time()})
        pipe.sadd(keys.endpoints_known, record.endpoint)
    else:
        original: Any = json.loads(fields["fields"])
        pipe.xadd(fields["stream"], original)
    pipe.xdel(dead_stream, entry_id)
    pipe.execute()
