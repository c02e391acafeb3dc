"""The notifier: takes alerts off the stream and delivers them to every endpoint they name.

Each endpoint has its own small pool of sending threads and its own due set, so a slow or dead
endpoint only ever uses its own slots and never delays another's deliveries. Failures are retried
on the configured schedule (Retry-After honoured), a circuit breaker stops hammering an endpoint
that keeps failing, 410 Gone disables an endpoint, and exhausted deliveries are dead-lettered.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from worker.alerts.breaker import BreakerPolicy, Circuit
from worker.alerts.formats import render
from worker.alerts.history import DeliveryHistory
from worker.alerts.retry import Outcome, classify, retry_delay
from worker.alerts.signing import signed_headers
from worker.alerts.store import DeliveryRecord, DeliveryStore, Target, breaker_of
from worker.observability.metrics import METRICS
from worker.queue.connection import Client
from worker.queue.keys import Keys, short_hash
from worker.queue.streams import Entry

USER_AGENT = "wirewatch-webhooks/0.1"
_DIGEST_MAX = 500
# Deliveries for endpoints removed from the config are dead-lettered; looking is not urgent.
_UNKNOWN_CHECK_EVERY_S = 30.0


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str | None = None
    format: str = "standard"
    digest_s: float | None = None


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_schedule: tuple[float, ...]
    timeout_s: float
    jitter: float
    concurrency: int = 4
    breaker: BreakerPolicy = field(default_factory=lambda: BreakerPolicy(5, 30.0, 1800.0))

    @property
    def lease_s(self) -> float:
        return 2 * self.timeout_s + 5


def request_headers(endpoint: Endpoint, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Signed per Standard Webhooks when the endpoint has a secret; a fresh timestamp each try."""
    if endpoint.secret:
        headers = signed_headers(endpoint.secret, msg_id, timestamp, body)
    else:
        headers = {"content-type": "application/json"}
    headers["user-agent"] = USER_AGENT
    return headers


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
        self.store = DeliveryStore(client, keys)
        self.history = DeliveryHistory(client, keys)
        self.endpoints = endpoints
        self.policy = policy
        self.log = log
        self.clock = clock
        # A client (connection pool) per endpoint: a dead endpoint's hung connections never
        # share a pool, or its lock, with a live one's.
        self._http = {
            eid: httpx.Client(timeout=policy.timeout_s, follow_redirects=False) for eid in endpoints
        }
        self._pools = {
            eid: ThreadPoolExecutor(policy.concurrency, thread_name_prefix=f"send-{eid}")
            for eid in endpoints
        }
        self._in_flight = dict.fromkeys(endpoints, 0)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._work = threading.Event()  # set when an alert arrives or a sending slot frees up
        self._unknown_checked_at = float("-inf")

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        for client in self._http.values():
            client.close()

    # -- intake ------------------------------------------------------------------------------
    def take_batch(self, entries: Sequence[Entry], group: str) -> list[tuple[Entry, Exception]]:
        """`take` for many alerts in one round trip; returns those that failed, with the error."""
        pipe = self.store.client.pipeline(transaction=False)
        queued: list[Entry] = []
        failed: list[tuple[Entry, Exception]] = []
        for entry in entries:
            try:
                self._queue_take(entry, group, pipe)
            except (ValueError, KeyError, TypeError) as exc:  # a malformed alert entry
                failed.append((entry, exc))
            else:
                queued.append(entry)
        replies = pipe.execute(raise_on_error=False)
        failed += [(e, r) for e, r in zip(queued, replies, strict=True) if isinstance(r, Exception)]
        return failed

    def _queue_take(self, entry: Entry, group: str, pipe: Any) -> None:
        fields = entry[1]
        envelope = json.loads(fields["body"])
        targets = [
            self._target(eid, envelope, fields["body"])
            for eid in json.loads(fields.get("notify", "[]"))
        ]
        data = envelope["data"]
        msg_id = data.get("event_id") or data.get("alert_id") or "ev_" + short_hash(fields["body"])
        self.store.take(entry[0], group, msg_id, targets, self.clock(), pipe)
        self._log_event(envelope, fields)

    def _target(self, endpoint_id: str, envelope: dict[str, Any], body: str) -> Target:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is not None and endpoint.digest_s:
            return Target(endpoint_id, True, body)
        fmt = endpoint.format if endpoint else "standard"
        rendered = body if fmt == "standard" else render(fmt, [envelope], self._now())
        return Target(endpoint_id, False, rendered)

    def _log_event(self, envelope: dict[str, Any], fields: Mapping[str, str]) -> None:
        data = envelope.get("data", {})
        context: dict[str, Any] = {"notify": json.loads(fields.get("notify", "[]"))}
        if envelope.get("type") == "alert.created":
            context |= {
                "watchlist": data["watchlist"]["id"],
                "alert_id": data["alert_id"],
                "title": data["article"]["title"],
                "url": data["article"]["url"],
                "story": data.get("story", {}).get("id"),
                "matches": [f"{m['field']}: {m['text']}" for m in data.get("matches", [])],
            }
            self.log.info("alert", **context)
            return
        self.log.info(str(envelope.get("type", "event")), **context, data=data)

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self) -> int:
        """Start sending every due delivery that its endpoint has room for; return how many."""
        # Endpoints whose sending slots are all busy (a dead one waiting out timeouts, say) cost
        # nothing here: not even a Redis round trip. The others' states come in one round trip.
        candidates = [eid for eid in self.endpoints if self._free_slots(eid) > 0]
        states = self.store.states(candidates)
        started = sum(self._dispatch_endpoint(eid, states[eid]) for eid in candidates)
        if self.clock() - self._unknown_checked_at >= _UNKNOWN_CHECK_EVERY_S:
            self._unknown_checked_at = self.clock()
            self._dead_letter_unknown()
        return started

    def _free_slots(self, endpoint_id: str) -> int:
        with self._lock:
            return self.policy.concurrency - self._in_flight[endpoint_id]

    def _dispatch_endpoint(self, endpoint_id: str, state: Mapping[str, str]) -> int:
        if state.get("disabled"):
            return self._dead_letter_all(endpoint_id, f"endpoint disabled: {state['disabled']}")
        circuit = breaker_of(state).circuit(self.clock(), self.policy.breaker)
        room = self._room(endpoint_id, circuit)
        if room <= 0:
            return 0
        claimed = self.store.claim(endpoint_id, self.clock(), room, self.policy.lease_s)
        with self._lock:
            self._in_flight[endpoint_id] += len(claimed)
        for ident, raw in claimed:
            self._pools[endpoint_id].submit(self._send_guarded, endpoint_id, ident, raw)
        if not claimed and circuit is Circuit.HALF_OPEN:
            self.store.release_probe(endpoint_id)  # nothing to probe with yet
        return len(claimed)

    def _room(self, endpoint_id: str, circuit: Circuit) -> int:
        with self._lock:
            free = self.policy.concurrency - self._in_flight[endpoint_id]
            busy = self._in_flight[endpoint_id] > 0
        if circuit is Circuit.CLOSED:
            return free
        if circuit is Circuit.HALF_OPEN and not busy:
            return 1 if self.store.take_probe(endpoint_id, self.policy.lease_s) else 0
        return 0

    def _dead_letter_all(self, endpoint_id: str, reason: str) -> int:
        claimed = self.store.claim(endpoint_id, float("inf"), 100, self.policy.lease_s)
        for ident, raw in claimed:
            self.store.dead_letter(endpoint_id, ident, raw, reason)
        if claimed:
            self.log.error(
                "deliveries_dead_lettered", endpoint=endpoint_id, count=len(claimed), reason=reason
            )
        return 0

    def _dead_letter_unknown(self) -> None:
        for endpoint_id in self.store.known_endpoints() - set(self.endpoints):
            self._dead_letter_all(endpoint_id, "endpoint no longer configured")

    # -- sending -----------------------------------------------------------------------------
    def _send_guarded(self, endpoint_id: str, ident: str, raw: str) -> None:
        try:
            self._send(self.endpoints[endpoint_id], ident, raw)
        except Exception as exc:  # a bug or a Redis blip must not kill the sending thread
            self.log.exception("delivery_crashed", endpoint=endpoint_id, error=str(exc))
        finally:
            with self._lock:
                self._in_flight[endpoint_id] -= 1
                self._idle.notify_all()
            self._work.set()

    def _send(self, endpoint: Endpoint, ident: str, raw: str) -> None:
        if not raw:
            self.store.settle(endpoint.id, ident)  # the record was settled by another notifier
            return
        record = DeliveryRecord.from_json(raw)
        log = self.log.bind(endpoint=endpoint.id, delivery=ident)
        outcome = self._post(endpoint, record)
        record.attempts += 1
        if outcome.delivered:
            noted = self._noted(record, "delivered", "delivered")
            self.store.settle_delivered(endpoint.id, ident, self.clock(), also=noted)
            log.info("delivered", attempts=record.attempts)
            latency = max(0.0, self.clock() - record.created_at)
            METRICS.observe("wirewatch_delivery_latency_seconds", latency, endpoint=endpoint.id)
            return
        self._record_failure(endpoint.id, outcome)
        if outcome.gone:
            self.store.disable(endpoint.id, outcome.error)
            noted = self._noted(record, "gone", "gone", outcome.error)
            self.store.dead_letter(endpoint.id, ident, record.to_json(), outcome.error, noted)
            log.error("endpoint_disabled", reason=outcome.error)
        else:
            record.last_error = outcome.error
            self._retry_or_dead_letter(ident, record, outcome, log)

    def _post(self, endpoint: Endpoint, record: DeliveryRecord) -> Outcome:
        headers = request_headers(endpoint, record.msg_id, int(self.clock()), record.body)
        try:
            response = self._http[endpoint.id].post(
                endpoint.url, content=record.body.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        return classify(response.status_code, response.headers, self._now())

    def _record_failure(self, endpoint_id: str, outcome: Outcome) -> None:
        now = self.clock()
        after = self.store.count_failure(endpoint_id).after_failure(now, self.policy.breaker)
        fields = {"last_error": outcome.error, "last_error_at": str(now)}
        self.store.save_opening(endpoint_id, after, fields)
        self.store.release_probe(endpoint_id)
        if after.failures == self.policy.breaker.threshold:
            self.log.warning("circuit_opened", endpoint=endpoint_id, cooldown_s=after.cooldown_s)

    def _retry_or_dead_letter(
        self, ident: str, record: DeliveryRecord, outcome: Outcome, log: Any
    ) -> None:
        schedule: Sequence[float] = self.policy.retry_schedule
        delay = retry_delay(
            schedule, record.attempts, self.policy.jitter, random.random(), outcome.retry_after_s
        )
        if delay is None:
            noted = self._noted(record, "failed", "dead", record.last_error)
            self.store.dead_letter(
                record.endpoint, ident, record.to_json(), record.last_error, noted
            )
            log.error("delivery_dead_lettered", reason=record.last_error, attempts=record.attempts)
            METRICS.inc(
                "wirewatch_deliveries_total", endpoint=record.endpoint, result="dead_lettered"
            )
            return
        noted = self._noted(record, "failed", "retrying", record.last_error)
        self.store.reschedule(ident, record, self.clock() + delay, also=noted)
        log.warning("delivery_failed", error=record.last_error, retry_in_s=round(delay, 1))

    def _noted(
        self, record: DeliveryRecord, result: str, state: str, error: str = ""
    ) -> Callable[[Any], None]:
        """Counts the attempt in the metrics; returns what notes it in each of its alerts'
        delivery history, in the pipeline that stores its outcome."""
        METRICS.inc("wirewatch_deliveries_total", endpoint=record.endpoint, result=result)
        messages = record.alerts or [record.msg_id]

        def note(pipe: Any) -> None:
            self.history.note(
                pipe, messages, record.endpoint, record.attempts, error or result, state
            )

        return note

    # -- digests -----------------------------------------------------------------------------
    def flush_digests(self, force: bool = False) -> int:
        """Seal each digest endpoint's buffer into one delivery when its interval has passed."""
        return sum(self._flush_digest(e, force) for e in self.endpoints.values() if e.digest_s)

    def _flush_digest(self, endpoint: Endpoint, force: bool) -> int:
        assert endpoint.digest_s is not None
        now = self.clock()
        last = float(self.store.state(endpoint.id).get("last_digest_at") or 0)
        if not force and now - last < endpoint.digest_s:
            return 0
        taken = self.store.buffered(endpoint.id, _DIGEST_MAX)
        if not taken:
            return 0
        envelopes = [json.loads(t) for t in taken]
        msg_id = "dg_" + short_hash(
            endpoint.id + "".join(e["data"].get("alert_id", "") for e in envelopes)
        )
        body = render(endpoint.format, envelopes, self._now())
        record = DeliveryRecord(
            endpoint.id,
            msg_id,
            body,
            now,
            alerts=[e["data"].get("alert_id", "") for e in envelopes],
        )
        if self.store.seal_digest(endpoint.id, taken, record, now):
            self.store.mark_digest_sent(endpoint.id, now)
            return 1
        return 0

    # -- waiting -----------------------------------------------------------------------------
    def wake(self) -> None:
        self._work.set()

    def wait_for_work(self, timeout_s: float) -> None:
        """Sleep until an alert arrives, a slot frees up, or the timeout (retries come due)."""
        self._work.wait(timeout_s)
        self._work.clear()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until no request is in flight (burst mode); False if the timeout passed."""
        with self._idle:
            return self._idle.wait_for(lambda: not any(self._in_flight.values()), timeout_s)

    def next_due_at(self) -> float | None:
        """When the earliest waiting delivery may be sent (its due time, or its circuit's probe)."""
        times = [t for eid in self.endpoints if (t := self._endpoint_next(eid)) is not None]
        return min(times, default=None)

    def _endpoint_next(self, endpoint_id: str) -> float | None:
        due = self.store.first_due(endpoint_id)
        if due is None:
            return None
        breaker = self.store.breaker(endpoint_id)
        if breaker.circuit(self.clock(), self.policy.breaker) is Circuit.OPEN:
            return max(due, breaker.open_until)
        return due

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
