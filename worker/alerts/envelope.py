"""The one envelope every event is sent in (`{"type", "timestamp", "data"}`), and the one
record every event travels in on the alerts stream (`AlertRecord`: `notify`, `body`).

Every event type (`alert.created`, `story.updated`, `feed.unhealthy`, `alert.digest`, and those
to come) is wrapped here, so the timestamp is always the documented `…Z` form and the body is
the same bytes on every retry (it is what gets signed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from worker.times import iso_z


class EventType(StrEnum):
    ALERT_CREATED = "alert.created"
    STORY_UPDATED = "story.updated"
    FEED_UNHEALTHY = "feed.unhealthy"
    ALERT_DIGEST = "alert.digest"
    ALERT_SPIKE = "alert.spike"


def envelope(event: EventType | str, data: Mapping[str, Any], at: float) -> dict[str, Any]:
    return {"type": str(event), "timestamp": iso_z(at), "data": dict(data)}


def envelope_body(event: EventType | str, data: Mapping[str, Any], at: float) -> str:
    """The exact JSON body sent (and signed) for one event."""
    return json.dumps(envelope(event, data, at), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class AlertRecord:
    """One entry of the alerts stream: the endpoint ids to notify and the envelope's exact body
    (the data is read back from the body: it is stored once)."""

    notify: tuple[str, ...]
    body: str

    def script_args(self) -> list[str]:
        """The two script arguments `xadd_record` writes, in its order."""
        return [json.dumps(list(self.notify)), self.body]

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> AlertRecord:
        """Raises KeyError, ValueError or TypeError for an entry that is not one."""
        notify = json.loads(fields.get("notify") or "[]")
        if not isinstance(notify, list):
            raise TypeError("notify is not a list")
        return cls(tuple(str(n) for n in notify), fields["body"])

    def envelope(self) -> dict[str, Any]:
        parsed = json.loads(self.body)
        if not isinstance(parsed, dict):
            raise TypeError("the body is not an event envelope")
        return parsed


def xadd_record(stream: str, notify: str, body: str) -> str:
    """The Lua that appends an `AlertRecord` to the alerts stream, given the Lua expressions of
    the stream key and the record's two script arguments: every script writes it so."""
    return f"redis.call('XADD', {stream}, '*', 'notify', {notify}, 'body', {body})"


# An event sent once per marker (a failure streak, a spike's bucket): the marker is set and the
# record appended atomically. KEYS: alerts stream, marker. ARGV: marker ttl, notify JSON, body.
EMIT_ONCE = f"""
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[1])) then
  {xadd_record("KEYS[1]", "ARGV[2]", "ARGV[3]")}
  return 1
end
return 0
"""
