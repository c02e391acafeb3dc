"""Delivery state in Redis, all under the `{alerts}` hash tag so each script touches one slot.

- a hash of delivery records (id -> JSON: endpoint, message id, body, attempts, last error),
- per endpoint, a sorted set of its delivery ids scored by when each is next due,
- per endpoint, a state hash (circuit breaker, disabled flag, last outcome),
- per digest endpoint, a list of alert envelopes waiting for the next digest,
- a dead-letter stream of deliveries that ran out of tries or whose endpoint is gone.

Taking an alert off the stream (creating its deliveries, filling digest buffers) and acking it is
one script, so an alert is never half-taken. A claimed delivery is leased (its score pushed into
the future) before it is sent: several notifiers never send one delivery at once, and one that
dies mid-send is retried, with the same webhook-id, once the lease runs out, or at once when the
notifier's instance is found dead (each notifier keeps the leases it holds in a hash of its own,
`release_leases` makes them due now if nobody leased them since).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.alerts.breaker import Breaker
from worker.queue.connection import Client, read_hash, write_hash
from worker.queue.keys import Keys

# KEYS: deliveries hash, alerts stream, endpoints set, then per target its due set or buffer.
# ARGV: now, group, entry id, then per target: kind ("d" delivery, "b" buffer), id, payload.
_INTAKE = """
for i = 4, #ARGV, 3 do
  local target = KEYS[4 + (i - 4) / 3]
  if ARGV[i] == 'd' then
    if redis.call('HSETNX', KEYS[1], ARGV[i + 1], ARGV[i + 2]) == 1 then
      redis.call('ZADD', target, ARGV[1], ARGV[i + 1])
    end
  else
    redis.call('RPUSH', target, ARGV[i + 2])
  end
  redis.call('SADD', KEYS[3], ARGV[i + 1]:match('[^:]+$'))
end
return redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])
"""

_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
  if KEYS[3] then redis.call('HSET', KEYS[3], id, ARGV[3]) end
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '')
end
return out
"""

# Turn the first N buffered envelopes into one delivery, if nobody else took them meanwhile.
_DIGEST = """
if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[1]) then return 0 end
if redis.call('LINDEX', KEYS[1], tonumber(ARGV[1]) - 1) ~= ARGV[2] then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) == 1 then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[1]), -1)
return 1
"""


# KEYS: a dead notifier's lease hash, then the due set of each id. ARGV: now, then the ids.
# A lease is released only if the delivery's score is still the one that notifier set.
_RELEASE = """
local held = 0
for i = 2, #ARGV do
  local until_ = redis.call('HGET', KEYS[1], ARGV[i])
  local score = redis.call('ZSCORE', KEYS[i], ARGV[i])
  if until_ and score and tonumber(score) == tonumber(until_) then
    redis.call('ZADD', KEYS[i], ARGV[1], ARGV[i])
    held = held + 1
  end
end
redis.call('DEL', KEYS[1])
return held
"""


@dataclass(frozen=True)
class Target:
    """Where an alert goes for one endpoint: a delivery now, or the endpoint's digest buffer."""

    endpoint_id: str
    digest: bool
    body: str  # the rendered body for a delivery; the standard envelope for a digest buffer
    unrendered: bool = False  # the standard envelope, for an endpoint not configured yet


@dataclass
class DeliveryRecord:
    endpoint: str
    msg_id: str
    body: str
    created_at: float
    attempts: int = 0
    last_error: str = ""
    alerts: list[str] = field(default_factory=list)
    # `body` is the standard envelope, to be rendered in the endpoint's format when sent (the
    # alert came before its endpoint was configured in the notifier that took it)
    unrendered: bool = False

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DeliveryRecord:
        return cls(**json.loads(text))


Also = Callable[[Any], None] | None  # adds its own commands to a store method's pipeline


def _add(pipe: Any, also: Also) -> None:
    if also is not None:
        also(pipe)


def delivery_id(msg_id: str, endpoint_id: str) -> str:
    return f"{msg_id}:{endpoint_id}"


def breaker_of(state: Mapping[str, str]) -> Breaker:
    return Breaker(
        int(state.get("failures") or 0),
        float(state.get("open_until") or 0),
        float(state.get("cooldown_s") or 0),
    )


class DeliveryStore:
    def __init__(self, client: Client, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._intake = client.register_script(_INTAKE)
        self._claim = client.register_script(_CLAIM)
        self._digest = client.register_script(_DIGEST)
        self._release = client.register_script(_RELEASE)
        self.owner: str | None = None

    def track_leases(self, owner: str) -> None:
        """Keep the leases this notifier takes under `owner` (its instance name)."""
        self.owner = owner

    def _forget_lease(self, pipe: Any, ident: str) -> None:
        if self.owner is not None:
            pipe.hdel(self.keys.delivery_leases(self.owner), ident)

    def release_leases(self, owner: str, now: float) -> int:
        """Make the deliveries leased by dead notifier `owner` due now; how many were."""
        held: Any = self.client.hkeys(self.keys.delivery_leases(owner))
        idents = [str(i) for i in held]
        keys = [self.keys.delivery_leases(owner)]
        keys += [self.keys.endpoint_due(i.rsplit(":", 1)[-1]) for i in idents]
        return int(self._release(keys=keys, args=[now, *idents]))

    def take(
        self,
        entry_id: str,
        group: str,
        msg_id: str,
        targets: Sequence[Target],
        now: float,
        pipe: Any = None,
    ) -> None:
        """Queue one alert's deliveries and ack it (atomic); on `pipe`, sent with its batch."""
        keys = [self.keys.deliveries, self.keys.alerts_stream, self.keys.endpoints_known]
        args: list[Any] = [now, group, entry_id]
        for target in targets:
            ident = delivery_id(msg_id, target.endpoint_id)
            if target.digest:
                keys.append(self.keys.digest_buffer(target.endpoint_id))
                args += ["b", ident, target.body]
            else:
                keys.append(self.keys.endpoint_due(target.endpoint_id))
                record = DeliveryRecord(
                    target.endpoint_id, msg_id, target.body, now, alerts=[msg_id],
                    unrendered=target.unrendered,
                )  # fmt: skip
                args += ["d", ident, record.to_json()]
        if pipe is None:
            self._intake(keys=keys, args=args)
            return
        # EVAL on a pipeline: a cluster pipeline cannot load a script a node lacks (EVALSHA
        # would fail with NOSCRIPT after a failover), and a plain one would ask SCRIPT EXISTS.
        # (execute_command: a cluster pipeline has no eval() method, and routes EVAL by its keys)
        pipe.execute_command("EVAL", _INTAKE, len(keys), *keys, *args)

    def claim(
        self, endpoint_id: str, now: float, limit: int, lease_s: float
    ) -> list[tuple[str, str]]:
        keys = [self.keys.endpoint_due(endpoint_id), self.keys.deliveries]
        if self.owner is not None:
            keys.append(self.keys.delivery_leases(self.owner))
        reply = self._claim(keys=keys, args=[now, limit, now + lease_s])
        return [(reply[i], reply[i + 1]) for i in range(0, len(reply), 2)]

    def settle(self, endpoint_id: str, ident: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.keys.deliveries, ident)
        pipe.zrem(self.keys.endpoint_due(endpoint_id), ident)
        self._forget_lease(pipe, ident)
        pipe.execute()

    def settle_delivered(self, endpoint_id: str, ident: str, now: float, also: Also = None) -> None:
        """A delivered request, in one round trip: the record goes, the circuit closes (and
        `also` adds its own commands, e.g. the delivery history, to that round trip)."""
        closed = {
            "failures": "0",
            "open_until": "0",
            "cooldown_s": "0",
            "last_success_at": str(now),
        }
        mapping: Any = closed
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.keys.deliveries, ident)
        pipe.zrem(self.keys.endpoint_due(endpoint_id), ident)
        pipe.hset(self.keys.endpoint_state(endpoint_id), mapping=mapping)
        pipe.delete(self.keys.endpoint_probe(endpoint_id))
        _add(pipe, also)
        self._forget_lease(pipe, ident)
        pipe.execute()

    def reschedule(
        self, ident: str, record: DeliveryRecord, due_at: float, also: Also = None
    ) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.deliveries, ident, record.to_json())
        pipe.zadd(self.keys.endpoint_due(record.endpoint), {ident: due_at})
        _add(pipe, also)
        self._forget_lease(pipe, ident)
        pipe.execute()

    def dead_letter(
        self, endpoint_id: str, ident: str, raw: str, reason: str, also: Also = None
    ) -> None:
        dead: Any = {"delivery_id": ident, "endpoint": endpoint_id, "reason": reason, "record": raw}
        dead["failed_at"] = str(int(time.time()))
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.keys.deliveries_dead, dead)
        pipe.hdel(self.keys.deliveries, ident)
        pipe.zrem(self.keys.endpoint_due(endpoint_id), ident)
        _add(pipe, also)
        self._forget_lease(pipe, ident)
        pipe.execute()

    def pull_in(self, endpoint_id: str, latest: float) -> int:
        """Bring the deliveries due after `latest` forward to it; how many there were (ones a
        version that did not cap Retry-After parked years away)."""
        key = self.keys.endpoint_due(endpoint_id)
        far: Any = self.client.zrangebyscore(key, f"({latest!r}", "+inf")
        if far:
            self.client.zadd(key, dict.fromkeys(far, latest), xx=True)
        return len(far)

    def first_due(self, endpoint_id: str) -> float | None:
        first: Any = self.client.zrange(self.keys.endpoint_due(endpoint_id), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def waiting(self, endpoint_id: str) -> int:
        """How many deliveries wait in an endpoint's queue."""
        return int(self.client.zcard(self.keys.endpoint_due(endpoint_id)))

    def known_endpoints(self) -> set[str]:
        members: Any = self.client.smembers(self.keys.endpoints_known)
        return {str(m) for m in members}

    # -- endpoint state ----------------------------------------------------------------------
    def state(self, endpoint_id: str) -> dict[str, str]:
        return read_hash(self.client, self.keys.endpoint_state(endpoint_id))

    def states(self, endpoint_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Several endpoints' state hashes in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for endpoint_id in endpoint_ids:
            pipe.hgetall(self.keys.endpoint_state(endpoint_id))
        replies: Any = pipe.execute() if endpoint_ids else []
        return {
            eid: {str(k): str(v) for k, v in reply.items()}
            for eid, reply in zip(endpoint_ids, replies, strict=True)
        }

    def breaker(self, endpoint_id: str) -> Breaker:
        return breaker_of(self.state(endpoint_id))

    def mark_digest_sent(self, endpoint_id: str, now: float) -> None:
        write_hash(self.client, self.keys.endpoint_state(endpoint_id), {"last_digest_at": str(now)})

    def count_failure(self, endpoint_id: str) -> Breaker:
        """The breaker as it was before this failure, its count bumped atomically in Redis.

        Sending threads and notifiers fail concurrently: an increment, not a read-modify-write,
        keeps every failure counted.
        """
        failures = int(self.client.hincrby(self.keys.endpoint_state(endpoint_id), "failures", 1))
        current = self.breaker(endpoint_id)
        return Breaker(failures - 1, current.open_until, current.cooldown_s)

    def save_opening(self, endpoint_id: str, breaker: Breaker, fields: Mapping[str, str]) -> None:
        """Store when the circuit reopens, leaving the (atomically counted) failures alone."""
        values = {"open_until": str(breaker.open_until), "cooldown_s": str(breaker.cooldown_s)}
        write_hash(self.client, self.keys.endpoint_state(endpoint_id), {**values, **fields})

    def disable(self, endpoint_id: str, reason: str) -> None:
        write_hash(self.client, self.keys.endpoint_state(endpoint_id), {"disabled": reason})

    def enable(self, endpoint_id: str) -> None:
        self.client.hdel(
            self.keys.endpoint_state(endpoint_id), "disabled", "failures", "open_until"
        )

    def take_probe(self, endpoint_id: str, lease_s: float) -> bool:
        key = self.keys.endpoint_probe(endpoint_id)
        return bool(self.client.set(key, "1", nx=True, px=int(lease_s * 1000)))

    def release_probe(self, endpoint_id: str) -> None:
        self.client.delete(self.keys.endpoint_probe(endpoint_id))

    # -- digests -----------------------------------------------------------------------------
    def buffered(self, endpoint_id: str, limit: int) -> list[str]:
        items: Any = self.client.lrange(self.keys.digest_buffer(endpoint_id), 0, limit - 1)
        return [str(i) for i in items]

    def seal_digest(
        self, endpoint_id: str, taken: Sequence[str], record: DeliveryRecord, now: float
    ) -> bool:
        """Move `taken` (the buffer's head) into one delivery; False if the head changed."""
        ident = delivery_id(record.msg_id, endpoint_id)
        keys = [
            self.keys.digest_buffer(endpoint_id),
            self.keys.deliveries,
            self.keys.endpoint_due(endpoint_id),
        ]
        args: list[Any] = [len(taken), taken[-1], ident, record.to_json(), now]
        return bool(self._digest(keys=keys, args=args))
