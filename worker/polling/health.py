"""Feed health: what a feed's stored state says (ok, failing, stale) and the `feed.unhealthy`
webhook event for a feed that has failed for longer than a threshold.

The decisions are pure functions over the state hash the poller keeps; `UnhealthyAlerts` only
puts the event on the alerts stream, once per failure streak (a marker key, like AlertEmitter),
so the notifier delivers it signed like any alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.alerts.envelope import EMIT_ONCE, AlertRecord, EventType, envelope_body
from worker.config import Settings
from worker.polling.intervals import is_stale
from worker.queue.connection import Client, hash_float
from worker.queue.keys import Keys
from worker.times import iso_z

EVENT_TYPE = EventType.FEED_UNHEALTHY
MARKER_TTL_S = 90 * 86400  # longer than any failure streak anyone waits out


@dataclass(frozen=True)
class HealthPolicy:
    stale_factor: float = 10.0
    stale_minimum_s: float = 2 * 86400.0
    unhealthy_after_s: float | None = None  # None: never send feed.unhealthy
    unhealthy_notify: tuple[str, ...] = ()


def feed_status(state: Mapping[str, str], now: float, policy: HealthPolicy) -> str:
    """`new` (never polled), `error`, `stale` (polls fine, but silent far beyond its rhythm)
    or `ok`."""
    if not state.get("status"):
        return "new"
    if state["status"] == "error":
        return "error"
    newest = hash_float(state, "newest_entry_at") or hash_float(state, "last_new_item")
    rhythm = hash_float(state, "rhythm_s")
    stale = is_stale(
        newest, rhythm, now, factor=policy.stale_factor, minimum_s=policy.stale_minimum_s
    )
    return "stale" if stale else "ok"


def unhealthy_due(state: Mapping[str, str], now: float, policy: HealthPolicy) -> bool:
    since = hash_float(state, "failing_since")
    after = policy.unhealthy_after_s
    return after is not None and since is not None and now - since >= after


def unhealthy_alert_id(feed_url: str, failing_since: float) -> str:
    """The same for every scheduler that notices one failure streak; new for the next one."""
    digest = hashlib.sha256(f"{feed_url}\n{failing_since:.3f}".encode()).hexdigest()
    return f"feed-{digest[:24]}"


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_z(epoch)


def unhealthy_event(
    feed_url: str, feed_name: str, state: Mapping[str, str], now: float
) -> dict[str, Any]:
    """The `data` of a feed.unhealthy webhook (also the alert record on the stream)."""
    since = hash_float(state, "failing_since") or now
    return {
        "alert_id": unhealthy_alert_id(feed_url, since),
        "type": EVENT_TYPE,
        "feed": {"url": feed_url, "name": feed_name},
        "failing_since": iso(since),
        "failing_for_s": round(now - since),
        "consecutive_errors": int(state.get("consecutive_errors") or 0),
        "last_error": state.get("last_error", ""),
        "last_success": iso(hash_float(state, "last_success")),
    }


class UnhealthyAlerts:
    def __init__(self, client: Client, keys: Keys, notify: Sequence[str]) -> None:
        self.client = client
        self.keys = keys
        self.notify = list(notify)
        self._emit = client.register_script(EMIT_ONCE)

    def emit(self, data: Mapping[str, Any], now: float) -> bool:
        """Queue the event unless this failure streak already had one; True if queued."""
        keys = [self.keys.alerts_stream, self.keys.alert_marker(str(data["alert_id"]))]
        record = AlertRecord(tuple(self.notify), envelope_body(EVENT_TYPE, data, now))
        args: list[Any] = [MARKER_TTL_S, *record.script_args()]
        return bool(self._emit(keys=keys, args=args))


def health_policy(settings: Settings) -> HealthPolicy:
    s = settings.scheduler
    return HealthPolicy(
        stale_factor=s.stale_factor,
        stale_minimum_s=s.stale_minimum,
        unhealthy_after_s=s.unhealthy_after,
        unhealthy_notify=tuple(s.unhealthy_notify),
    )
