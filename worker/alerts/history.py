"""What happened to each delivery of an alert, for the API's alert detail.

A delivery record leaves Redis once it is delivered (or moves to the dead letters), so the
notifier also notes each attempt here: per message, a small hash of endpoint -> attempts, the
last few results, the last error and where it stands. One script per message updates it in
place (one round trip per attempt; a digest's messages share one pipelined round trip). Each
hash expires with the alert index's default retention, so it is bounded like the index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys

HISTORY_TTL_S = 30 * 86400
_RESULTS_KEPT = 10

# KEYS: the message's history hash. ARGV: endpoint, attempts, result, state, now, kept, TTL.
_NOTE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local entry = raw and cjson.decode(raw) or {results = {}}
table.insert(entry.results, ARGV[3])
while #entry.results > tonumber(ARGV[6]) do table.remove(entry.results, 1) end
entry.attempts = tonumber(ARGV[2])
entry.state = ARGV[4]
entry.updated_at = tonumber(ARGV[5])
if ARGV[3] ~= 'delivered' then entry.last_error = ARGV[3] end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
return 1
"""


class DeliveryHistory:
    def __init__(self, client: Client, keys: Keys, ttl_s: int = HISTORY_TTL_S) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._note = client.register_script(_NOTE)

    def note(
        self, msg_ids: Sequence[str], endpoint_id: str, attempts: int, result: str, state: str
    ) -> None:
        """One attempt's `result` ("delivered" or the error) for each message it carried, and
        the `state` it leaves (delivered, retrying, dead, gone)."""
        pipe = self.client.pipeline(transaction=False)
        args: list[Any] = [endpoint_id, attempts, result, state, time.time(), _RESULTS_KEPT]
        for msg_id in msg_ids:
            self._note(
                keys=[self.keys.delivery_history(msg_id)], args=[*args, self.ttl_s], client=pipe
            )
        pipe.execute()

    def of(self, msg_id: str) -> dict[str, dict[str, Any]]:
        raw: Any = self.client.hgetall(self.keys.delivery_history(msg_id))
        found = {str(k): json.loads(v) for k, v in raw.items()}
        for entry in found.values():  # cjson writes an empty list as an object
            if not isinstance(entry.get("results"), list):
                entry["results"] = list((entry.get("results") or {}).values())
        return found
