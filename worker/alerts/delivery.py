"""The notifier: turns alerts into per-endpoint deliveries and sends the ones that are due.

State lives in Redis under the `{alerts}` hash tag: a hash of delivery records and a sorted set of
delivery ids scored by when each is next due. Taking an alert off the stream and creating its
deliveries is one atomic script that also acks the alert, so an alert is never half-taken. A
claimed delivery is leased (pushed into the future) before it is sent, so several notifiers never
send the same delivery at once, and one that dies mid-send is retried once its lease runs out.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from worker.alerts.retry import is_delivered, retry_delay
from worker.alerts.signing import signed_headers
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.streams import Entry

_INTAKE = """
for i = 3, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
  end
end
return redis.call('XACK', KEYS[3], ARGV[2], KEYS[4])
"""

_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
end
return out
"""


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_schedule: tuple[float, ...]
    timeout_s: float
    jitter: float

    @property
    def lease_s(self) -> float:
        return 2 * self.timeout_s + 30


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    error: str = ""


def delivery_records(entry: Entry, now: float) -> list[tuple[str, str]]:
    """(delivery id, JSON record) for each endpoint an alert entry names."""
    fields = entry[1]
    alert = json.loads(fields["alert"])
    records = []
    for endpoint_id in json.loads(fields.get("notify", "[]")):
        record = {
            "alert_id": alert["alert_id"],
            "endpoint": endpoint_id,
            "body": fields["body"],
            "attempts": 0,
            "created_at": now,
            "last_error": "",
        }
        records.append((f"{alert['alert_id']}:{endpoint_id}", json.dumps(record)))
    return records


class Notifier:
    def __init__(
        self,
        client: Client,
        keys: Keys,
        endpoints: Mapping[str, Endpoint],
        policy: DeliveryPolicy,
        log: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.keys = keys
        self.endpoints = endpoints
        self.policy = policy
        self.log = log
        self.clock = clock
        self._intake = client.register_script(_INTAKE)
        self._claim = client.register_script(_CLAIM)
        self._http = httpx.Client(timeout=policy.timeout_s, follow_redirects=False)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="deliver")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    # -- intake ------------------------------------------------------------------------------
    def take(self, entry: Entry, group: str) -> None:
        """Log the alert, create its deliveries and ack it, atomically."""
        self._log_alert(entry[1])
        args: list[Any] = [self.clock(), group]
        for delivery_id, record in delivery_records(entry, self.clock()):
            args += [delivery_id, record]
        keys = [self.keys.deliveries, self.keys.deliveries_due, self.keys.alerts_stream, entry[0]]
        self._intake(keys=keys, args=args)

    def _log_alert(self, fields: Mapping[str, str]) -> None:
        alert = json.loads(fields["alert"])
        self.log.info(
            "alert",
            watchlist=alert["watchlist"]["id"],
            alert_id=alert["alert_id"],
            title=alert["article"]["title"],
            url=alert["article"]["url"],
            matches=[f"{m['field']}: {m['text']}" for m in alert["matches"]],
            notify=json.loads(fields.get("notify", "[]")),
        )

    # -- sending -----------------------------------------------------------------------------
    def deliver_due(self, limit: int = 64) -> int:
        """Send every due delivery (up to `limit`), in parallel across endpoints; return count."""
        now = self.clock()
        keys = [self.keys.deliveries_due, self.keys.deliveries]
        reply = self._claim(keys=keys, args=[now, limit, now + self.policy.lease_s])
        claimed = [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]
        list(self._pool.map(lambda pair: self._deliver_one(*pair), claimed))
        return len(claimed)

    def next_due_at(self) -> float | None:
        first = self.client.zrange(self.keys.deliveries_due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def _deliver_one(self, delivery_id: str, raw: str) -> None:
        if not raw:
            self.client.zrem(self.keys.deliveries_due, delivery_id)  # record already settled
            return
        record = json.loads(raw)
        endpoint = self.endpoints.get(record["endpoint"])
        log = self.log.bind(endpoint=record["endpoint"], alert_id=record["alert_id"])
        if endpoint is None:
            self._dead_letter(delivery_id, record, "endpoint no longer configured", log)
            return
        outcome = self._post(endpoint, record)
        record["attempts"] += 1
        if outcome.delivered:
            self._settle(delivery_id)
            log.info("delivered", attempts=record["attempts"])
            return
        record["last_error"] = outcome.error
        self._reschedule(delivery_id, record, log)

    def _post(self, endpoint: Endpoint, record: Mapping[str, Any]) -> Outcome:
        body: str = record["body"]
        headers = signed_headers(endpoint.secret, record["alert_id"], int(self.clock()), body)
        headers["user-agent"] = "wirewatch-webhooks/0.1"
        try:
            response = self._http.post(endpoint.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        if is_delivered(response.status_code):
            return Outcome(True)
        return Outcome(False, f"HTTP {response.status_code}")

    def _reschedule(self, delivery_id: str, record: dict[str, Any], log: Any) -> None:
        schedule: Sequence[float] = self.policy.retry_schedule
        delay = retry_delay(schedule, record["attempts"], self.policy.jitter, random.random())
        if delay is None:
            self._dead_letter(delivery_id, record, record["last_error"], log)
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.deliveries, delivery_id, json.dumps(record))
        pipe.zadd(self.keys.deliveries_due, {delivery_id: self.clock() + delay})
        pipe.execute()
        log.warning("delivery_failed", error=record["last_error"], retry_in_s=round(delay, 1))

    def _settle(self, delivery_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.keys.deliveries, delivery_id)
        pipe.zrem(self.keys.deliveries_due, delivery_id)
        pipe.execute()

    def _dead_letter(self, delivery_id: str, record: dict[str, Any], reason: str, log: Any) -> None:
        dead = {"delivery_id": delivery_id, "reason": reason, "record": json.dumps(record)}
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.keys.deliveries_dead, dead)  # type: ignore[arg-type]
        pipe.hdel(self.keys.deliveries, delivery_id)
        pipe.zrem(self.keys.deliveries_due, delivery_id)
        pipe.execute()
        log.error("delivery_dead_lettered", reason=reason, attempts=record["attempts"])
