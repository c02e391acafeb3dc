"""What happened to each delivery of an alert, for the API's alert detail.

A delivery record leaves Redis once it is delivered (or moves to the dead letters), so the
notifier also notes each attempt here: per message, a hash with, per endpoint, the attempt
count, where it stands, the last error and each attempt's result (`<endpoint>:result:<n>`).
Only plain writes, no read: they ride in the pipeline that settles, reschedules or
dead-letters the delivery, so noting costs no round trip of its own. Attempts are bounded by
the retry schedule; each hash expires with the alert index's default retention.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys

HISTORY_TTL_S = 30 * 86400


class DeliveryHistory:
    def __init__(self, client: Client, keys: Keys, ttl_s: int = HISTORY_TTL_S) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s

    def note(
        self,
        pipe: Any,
        msg_ids: Sequence[str],
        endpoint_id: str,
        attempts: int,
        result: str,
        state: str,
    ) -> None:
        """Queue on `pipe` one attempt's `result` ("delivered" or the error) for each message it
        carried, and the `state` it leaves (delivered, retrying, dead, gone)."""
        fields: dict[str, Any] = {
            f"{endpoint_id}:attempts": attempts,
            f"{endpoint_id}:state": state,
            f"{endpoint_id}:updated_at": time.time(),
            f"{endpoint_id}:result:{attempts}": result,
        }
        if result != "delivered":
            fields[f"{endpoint_id}:last_error"] = result
        for msg_id in msg_ids:
            key = self.keys.delivery_history(msg_id)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl_s)

    def of(self, msg_id: str) -> dict[str, dict[str, Any]]:
        """Endpoint -> attempts, state, last_error, updated_at and results (oldest first)."""
        raw: Any = self.client.hgetall(self.keys.delivery_history(msg_id))
        found: dict[str, dict[str, Any]] = {}
        for field, value in raw.items():
            endpoint, _, name = str(field).partition(":")
            entry = found.setdefault(endpoint, {"results": {}})
            if name.startswith("result:"):
                entry["results"][int(name.split(":", 1)[1])] = str(value)
            else:
                entry[name] = str(value)
        for entry in found.values():
            entry["results"] = [entry["results"][n] for n in sorted(entry["results"])]
            entry["attempts"] = int(entry.get("attempts") or 0)
        return found
