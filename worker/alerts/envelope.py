"""The one envelope every event is sent in: `{"type", "timestamp", "data"}`.

Every event type (`alert.created`, `story.updated`, `feed.unhealthy`, `alert.digest`, and those
to come) is wrapped here, so the timestamp is always the documented `…Z` form and the body is
the same bytes on every retry (it is what gets signed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
