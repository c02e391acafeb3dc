"""What happened to each delivery of an alert, for the API's alert detail.

A delivery record leaves Redis once it is delivered (or moves to the dead letters), so the
notifier also notes each attempt here: per message, a small hash of endpoint -> attempts, the
last few results, the last error and where it stands. Each hash expires with the alert index's
default retention, so it is bounded like the index.
"""

from __future__ import annotations

import json
import time
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys

HISTORY_TTL_S = 30 * 86400
_RESULTS_KEPT = 10


class DeliveryHistory:
    def __init__(self, client: Client, keys: Keys, ttl_s: int = HISTORY_TTL_S) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s

    def note(self, msg_id: str, endpoint_id: str, attempts: int, result: str, state: str) -> None:
        """One attempt's `result` ("delivered" or the error) and the `state` it leaves
        (delivered, retrying, dead, gone)."""
        key = self.keys.delivery_history(msg_id)
        raw: Any = self.client.hget(key, endpoint_id)
        entry = json.loads(raw) if raw else {"results": []}
        entry["results"] = [*entry["results"], result][-_RESULTS_KEPT:]
        entry |= {"attempts": attempts, "state": state, "updated_at": time.time()}
        if result != "delivered":
            entry["last_error"] = result
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, endpoint_id, json.dumps(entry, ensure_ascii=False))
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def of(self, msg_id: str) -> dict[str, dict[str, Any]]:
        raw: Any = self.client.hgetall(self.keys.delivery_history(msg_id))
        return {str(k): json.loads(v) for k, v in raw.items()}
