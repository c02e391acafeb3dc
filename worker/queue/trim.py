"""Trimming a stream of the entries every consumer group is done with.

XADD alone keeps every entry ever written; consumer groups ack entries but Redis keeps them. An
entry may go once every group has acked it: it lies below each group's last-delivered id (so
every group has read it) and below each group's oldest pending entry (so no consumer still
holds it, and none can claim it after a crash). That id is a floor: it only ever moves forward
while groups read and ack, so trimming below a floor computed a moment ago is safe however the
groups move meanwhile, and several processes may trim one stream at once.

A stream with no consumer group yet is never trimmed: nobody has read it.
"""

from __future__ import annotations

from typing import Any

import redis

from worker.queue.connection import Client


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def acked_floor(client: Client, stream: str) -> str | None:
    """The id below which every consumer group has read and acked every entry; None when the
    stream has no group (or does not exist)."""
    try:
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream yet
        return None
    floors = []
    for group in groups:
        ms, seq = _id_key(str(group["last-delivered-id"]))
        floor = f"{ms}-{seq + 1}"  # the last delivered entry too, once acked
        if int(group["pending"]) > 0:
            summary: Any = client.xpending(stream, group["name"])
            if summary.get("min"):
                floor = min(floor, str(summary["min"]), key=_id_key)
        floors.append(floor)
    return min(floors, key=_id_key) if floors else None


def trim_acked(client: Client, stream: str) -> int:
    """Remove the entries of `stream` every consumer group is done with; returns how many."""
    floor = acked_floor(client, stream)
    if floor is None or floor == "0-1":  # nothing was delivered yet
        return 0
    return int(client.xtrim(stream, minid=floor, approximate=False))
