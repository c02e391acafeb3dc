"""The notifier: takes alerts off the stream and delivers them to every endpoint they name.

Each endpoint has its own small pool of sending threads and its own due set, so a slow or dead
endpoint only ever uses its own slots and never delays another's deliveries. Failures are retried
on the configured schedule (Retry-After honoured), a circuit breaker stops hammering an endpoint
that keeps failing, 410 Gone disables an endpoint, and exhausted deliveries are dead-lettered.
Endpoints with an Apprise URL (email, chat and push apps) are sent through `AppriseChannel`
(apprise_channel.py) in the same pools, with the same retries, breaker and dead letters.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from worker.alerts.apprise_channel import AppriseChannel, is_apprise_url
from worker.alerts.breaker import BreakerPolicy, Circuit
from worker.alerts.endpoints import EndpointChanges, endpoint_changes
from worker.alerts.envelope import AlertRecord
from worker.alerts.formats import render
from worker.alerts.history import DeliveryHistory
from worker.alerts.retry import Outcome, classify, retry_after_cap, retry_delay
from worker.alerts.schedule import DailyTime, daily_due
from worker.alerts.signing import signed_headers
from worker.alerts.store import DeliveryRecord, DeliveryStore, Target, breaker_of
from worker.fetching.keepalive import GuardedTransport
from worker.observability.metrics import METRICS
from worker.queue.connection import Client
from worker.queue.keys import Keys, short_hash
from worker.queue.streams import Entry

USER_AGENT = "wirewatch-webhooks/0.1"
_DIGEST_MAX = 500
# Deliveries for endpoints not (or no longer) configured wait for them; saying so is not urgent.
_UNKNOWN_CHECK_EVERY_S = 30.0


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    secret: str | None = None
    format: str = "standard"
    digest_s: float | None = None
    digest_daily: DailyTime | None = None  # a daily digest: sent at this time (digest_s is 1d)


@dataclass(frozen=True)
class _Lane:
    """One endpoint's sending resources: its own connection pool and sending threads, so a dead
    endpoint's hung connections and busy threads never hold up a live one's."""

    endpoint: Endpoint
    http: httpx.Client
    pool: ThreadPoolExecutor
    channel: AppriseChannel | None = None  # for an Apprise URL (mailto://, ntfy://, ...)


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_schedule: tuple[float, ...]
    timeout_s: float
    jitter: float
    concurrency: int = 4
    breaker: BreakerPolicy = field(default_factory=lambda: BreakerPolicy(5, 30.0, 1800.0))
    max_retry_after_s: float | None = None  # None: the schedule's largest step

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


def _pool_of(lanes: Mapping[str, _Lane], lane: _Lane) -> ThreadPoolExecutor | None:
    """The pool the new table has for `lane`'s endpoint (the same one when changed in place)."""
    kept = lanes.get(lane.endpoint.id)
    return kept.pool if kept is not None else None


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
        self.policy = policy
        self.log = log
        self.clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._work = threading.Event()  # set when an alert arrives or a sending slot frees up
        self._unknown_checked_at = float("-inf")
        # Replaced whole (never changed in place) when the config's webhooks change: a reader
        # takes the dict once and sees one consistent table.
        self._lanes: dict[str, _Lane] = {eid: self._open(e) for eid, e in endpoints.items()}
        self._in_flight = dict.fromkeys(endpoints, 0)
        self._retired: list[_Lane] = []  # removed endpoints' lanes, closed with the notifier

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return {eid: lane.endpoint for eid, lane in self._lanes.items()}

    def _open(self, endpoint: Endpoint) -> _Lane:
        http = httpx.Client(
            timeout=self.policy.timeout_s, follow_redirects=False, transport=GuardedTransport()
        )
        threads = ThreadPoolExecutor(
            self.policy.concurrency, thread_name_prefix=f"send-{endpoint.id}"
        )
        channel = None
        if is_apprise_url(endpoint.url):
            channel = AppriseChannel(endpoint.url, self.policy.timeout_s, self.policy.concurrency)
        return _Lane(endpoint, http, threads, channel)

    def _reopen(self, lane: _Lane, endpoint: Endpoint) -> _Lane:
        """The lane for a changed endpoint: a new URL gets its own channel (an Apprise channel
        is built for one URL); anything else changes in place, for the next send."""
        if lane.channel is not None and lane.endpoint.url != endpoint.url:
            return self._open(endpoint)
        return replace(lane, endpoint=endpoint)

    def replace_endpoints(self, endpoints: Mapping[str, Endpoint]) -> EndpointChanges:
        """Follow the config: added endpoints get their lane, changed ones are sent to as they
        are now (requests in flight finish as they began), removed ones stop being sent to;
        what waits for a removed endpoint stays queued, in case it comes back."""
        current = self._lanes
        changes = endpoint_changes(self.endpoints, endpoints)
        lanes = {
            eid: self._reopen(current[eid], e) if eid in current else self._open(e)
            for eid, e in endpoints.items()
        }
        # Lanes given up: a removed endpoint's, and an Apprise endpoint's whose URL changed.
        given_up = [lane for eid, lane in current.items() if lanes.get(eid) is not lane]
        given_up = [lane for lane in given_up if lane.pool is not _pool_of(lanes, lane)]
        with self._lock:
            for eid in changes.added:
                self._in_flight.setdefault(eid, 0)
            self._lanes = lanes
            self._retired += given_up
        for lane in given_up:
            lane.pool.shutdown(wait=False)  # the requests it holds still finish
        self._work.set()
        return changes

    def close(self) -> None:
        lanes = [*self._lanes.values(), *self._retired]
        for lane in lanes:
            lane.pool.shutdown(wait=True)
        for lane in lanes:
            lane.http.close()
            if lane.channel is not None:
                lane.channel.close()

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
        record = AlertRecord.from_fields(fields)
        envelope = record.envelope()
        targets = [self._target(eid, envelope, record.body) for eid in record.notify]
        data = envelope["data"]
        msg_id = data.get("event_id") or data.get("alert_id") or "ev_" + short_hash(record.body)
        self.store.take(entry[0], group, msg_id, targets, self.clock(), pipe)
        self._log_event(envelope, fields)

    def _target(self, endpoint_id: str, envelope: dict[str, Any], body: str) -> Target:
        lane = self._lanes.get(endpoint_id)
        if lane is None:  # not configured here (yet): rendered when sent, in its format then
            return Target(endpoint_id, False, body, unrendered=True)
        if lane.endpoint.digest_s:
            return Target(endpoint_id, True, body)
        if lane.channel is not None:
            return Target(endpoint_id, False, lane.channel.render([envelope], digest=False))
        fmt = lane.endpoint.format
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
        lanes = self._lanes
        candidates = [eid for eid in lanes if self._free_slots(eid) > 0]
        states = self.store.states(candidates)
        started = sum(self._dispatch_endpoint(lanes[eid], states[eid]) for eid in candidates)
        if self.clock() - self._unknown_checked_at >= _UNKNOWN_CHECK_EVERY_S:
            self._unknown_checked_at = self.clock()
            self._report_unconfigured(set(lanes))
            self._pull_in_parked()
        return started

    def _free_slots(self, endpoint_id: str) -> int:
        with self._lock:
            return self.policy.concurrency - self._in_flight[endpoint_id]

    def _dispatch_endpoint(self, lane: _Lane, state: Mapping[str, str]) -> int:
        endpoint_id = lane.endpoint.id
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
            try:
                lane.pool.submit(self._send_guarded, lane, ident, raw)
            except RuntimeError:  # the endpoint was removed this instant: its lease runs out
                self._done_sending(endpoint_id)
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

    def _report_unconfigured(self, configured: set[str]) -> None:
        """Deliveries for endpoints not configured here wait for them (never dead-lettered for
        that): said in the log, as `wirewatch status` shows them."""
        for endpoint_id in sorted(self.store.known_endpoints() - configured):
            waiting = self.store.waiting(endpoint_id)
            if waiting:
                self.log.warning(
                    "deliveries_wait_for_endpoint", endpoint=endpoint_id, deliveries=waiting,
                    hint="add this webhook id to the notifier's config, or remove it from notify",
                )  # fmt: skip

    def _pull_in_parked(self) -> None:
        """No delivery waits longer than the longest a retry may wait (a claim's lease too)."""
        policy = self.policy
        longest = retry_after_cap(policy.retry_schedule, policy.max_retry_after_s)
        latest = self.clock() + max(longest * (1.0 + policy.jitter), policy.lease_s)
        for endpoint_id in self.endpoints:
            count = self.store.pull_in(endpoint_id, latest)
            if count:
                self.log.warning("deliveries_pulled_in", endpoint=endpoint_id, count=count)

    # -- sending -----------------------------------------------------------------------------
    def _send_guarded(self, lane: _Lane, ident: str, raw: str) -> None:
        try:
            self._send(lane, ident, raw)
        except Exception as exc:  # a bug or a Redis blip must not kill the sending thread
            self.log.exception("delivery_crashed", endpoint=lane.endpoint.id, error=str(exc))
        finally:
            self._done_sending(lane.endpoint.id)

    def _done_sending(self, endpoint_id: str) -> None:
        with self._lock:
            self._in_flight[endpoint_id] -= 1
            self._idle.notify_all()
        self._work.set()

    def _send(self, lane: _Lane, ident: str, raw: str) -> None:
        endpoint = lane.endpoint
        if not raw:
            self.store.settle(endpoint.id, ident)  # the record was settled by another notifier
            return
        record = DeliveryRecord.from_json(raw)
        log = self.log.bind(endpoint=endpoint.id, delivery=ident)
        outcome = self._post(lane, record)
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

    def _post(self, lane: _Lane, record: DeliveryRecord) -> Outcome:
        endpoint = lane.endpoint
        body = self._body(lane, record)
        if lane.channel is not None:
            return lane.channel.send(body)  # blocks this endpoint's slot only, up to its deadline
        headers = request_headers(endpoint, record.msg_id, int(self.clock()), body)
        try:
            response = lane.http.post(endpoint.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        return classify(response.status_code, response.headers, self._now())

    def _body(self, lane: _Lane, record: DeliveryRecord) -> str:
        """The body as stored, or for an alert taken before its endpoint was configured (kept
        as the standard envelope), rendered in the endpoint's format (or channel) now."""
        if not record.unrendered:
            return record.body
        if lane.channel is not None:
            return lane.channel.render([json.loads(record.body)], digest=False)
        if lane.endpoint.format == "standard":
            return record.body
        return render(lane.endpoint.format, [json.loads(record.body)], self._now())

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
            schedule,
            record.attempts,
            self.policy.jitter,
            random.random(),
            outcome.retry_after_s,
            self.policy.max_retry_after_s,
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
        endpoints = self.endpoints.values()
        return sum(self._flush_digest(e, force) for e in endpoints if e.digest_s)

    def _flush_digest(self, endpoint: Endpoint, force: bool) -> int:
        assert endpoint.digest_s is not None
        now = self.clock()
        last = float(self.store.state(endpoint.id).get("last_digest_at") or 0)
        if not force and not self._digest_due(endpoint, last, now):
            return 0
        taken = self.store.buffered(endpoint.id, _DIGEST_MAX)
        if not taken:
            if endpoint.digest_daily is not None and not force:
                self.store.mark_digest_sent(endpoint.id, now)  # an empty day sends nothing
            return 0
        envelopes = [json.loads(t) for t in taken]
        msg_id = "dg_" + short_hash(
            endpoint.id + "".join(e["data"].get("alert_id", "") for e in envelopes)
        )
        lane = self._lanes.get(endpoint.id)
        if lane is not None and lane.channel is not None:
            body = lane.channel.render(envelopes, digest=True)
        else:
            body = render(endpoint.format, envelopes, self._now())
        record = DeliveryRecord(
            endpoint.id,
            msg_id,
            body,
            now,
            alerts=[e["data"].get("alert_id", "") for e in envelopes],
        )
        if self.store.seal_digest(endpoint.id, taken, record, now):
            # A full daily batch may leave more behind: those go in the next round, not tomorrow.
            if endpoint.digest_daily is None or len(taken) < _DIGEST_MAX:
                self.store.mark_digest_sent(endpoint.id, now)
            return 1
        return 0

    def _digest_due(self, endpoint: Endpoint, last: float, now: float) -> bool:
        if endpoint.digest_daily is None:
            assert endpoint.digest_s is not None
            return now - last >= endpoint.digest_s
        if not last:  # the endpoint's first period starts now, not at the epoch
            self.store.mark_digest_sent(endpoint.id, now)
            return False
        return daily_due(endpoint.digest_daily, last, now)

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
