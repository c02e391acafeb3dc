"""Polling one feed: conditional GET, parse, queue the entries never seen before, keep state.

Per-feed state (validators, body hash, last success, last error, consecutive errors, next poll,
publishing rhythm, hints) lives in a Redis hash so that it survives restarts and is shared by
every scheduler process. Entry identities live in one sorted set scored by when each was last
seen: an entry is queued the first time only, and forgotten only after it has been absent from
its feed for the retention time. The timing decisions are the pure functions of intervals.py.

A changed body is parsed without the items the previous body already had (byte-identical, by
digest: feeds.parse_feed_delta); what is kept of those between polls (identity, date) sits in
the state hash as `known_entries`.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from worker.errors import FetchError
from worker.feeds.intake import EntryIntake, IntakeLimits
from worker.feeds.model import FeedLike, feed_name
from worker.feeds.newitems import DEFAULT_MAX_ITEM_BYTES, DEFAULT_MAX_NEW_ITEMS, former_members
from worker.feeds.parse import (
    FeedDelta,
    ParsedFeed,
    decode_known,
    encode_known,
    parse_feed_delta,
    to_feed_item,
)
from worker.feeds.seen import entries_to_keep
from worker.fetching import Fetcher, FetchResult, HttpStatusFetchError
from worker.fetching.httpdates import retry_after_seconds
from worker.observability.metrics import METRICS
from worker.polling.decide import after_error, after_success
from worker.polling.health import HealthPolicy, UnhealthyAlerts, unhealthy_due, unhealthy_event
from worker.polling.intervals import (
    RETRY_AFTER_STATUSES,
    IntervalBounds,
    publishing_rhythm,
)
from worker.queue.connection import Client, read_hash, write_hash
from worker.queue.keys import Keys

Finish = Callable[[Any], None] | None  # given the state-writing pipeline; see FeedPoller.poll
# Called after a changed body was parsed and its entries queued (WebSub hub discovery), with
# the URL the body came from (after redirects: what it was parsed against) and the headers;
# must not raise.
ParsedHook = Callable[[FeedLike, str, Mapping[str, str], ParsedFeed], None]


@dataclass(frozen=True)
class PollPolicy:
    jitter: float
    max_backoff_s: float
    seen_retention_s: float
    min_interval_s: float = 300.0
    max_interval_s: float = 4 * 3600.0
    adaptive: bool = True
    health: HealthPolicy = field(default_factory=HealthPolicy)
    max_new_items: int = DEFAULT_MAX_NEW_ITEMS  # per poll, newest first (newitems.py)
    max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES  # JSON of one queued item; longer text trimmed
    partitions: int = 1  # items shards (`queue.partitions`)

    def intake_limits(self) -> IntakeLimits:
        return IntakeLimits(
            self.seen_retention_s, self.max_new_items, self.max_item_bytes, self.partitions
        )

    def bounds(self, feed: FeedLike) -> IntervalBounds:
        return IntervalBounds(
            configured_s=feed.interval,
            min_s=self.min_interval_s,
            max_s=self.max_interval_s,
            max_backoff_s=self.max_backoff_s,
            jitter=self.jitter,
            adaptive=self.adaptive,
        )


class PollStatus(StrEnum):
    NEW_ITEMS = "new_items"
    UNCHANGED = "unchanged"
    ERROR = "error"


@dataclass(frozen=True)
class PollOutcome:
    new_items: int
    next_delay_s: float
    status: PollStatus
    error: str = ""


def validators(result: FetchResult) -> dict[str, str]:
    """The response's ETag and Last-Modified, kept to be sent back byte for byte."""
    found = result.validators
    return {"etag": found.get("etag", ""), "last_modified": found.get("last_modified", "")}


def parsed_facts(delta: FeedDelta) -> dict[str, str]:
    """What a parsed body tells about timing, kept so unchanged polls still honour it (the
    dates of the items not parsed again were kept from when they were)."""
    parsed = delta.feed
    dates = [p for p in delta.published if p is not None]
    rhythm = publishing_rhythm(dates)
    hints = [h for h in (parsed.ttl_s, parsed.update_s) if h]
    facts = {"feed_hint_s": str(max(hints)) if hints else ""}
    if rhythm is not None:
        facts["rhythm_s"] = str(rhythm)
    if dates:
        facts["newest_entry_at"] = str(max(dates))
    return facts


# What a poll that left new items for later stores instead of the body's hash, validators and
# known items: the next poll fetches and parses the feed whole, and finds them new again.
_PARSE_WHOLE_NEXT_TIME = {"body_hash": "", "etag": "", "last_modified": "", "known_entries": ""}


@dataclass
class _Success:
    headers: Mapping[str, str]
    updates: dict[str, str]
    added: int = 0


class FeedPoller:
    def __init__(
        self,
        client: Client,
        keys: Keys,
        fetcher: Fetcher,
        policy: PollPolicy,
        log: Any,
        clock: Callable[[], float],
        *,
        rand: Callable[[], float] = random.random,
        alerts: UnhealthyAlerts | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.fetcher = fetcher
        self.policy = policy
        self.log = log
        self.clock = clock
        self.rand = rand
        self.alerts = alerts
        self.intake = EntryIntake(client, keys, clock, policy.intake_limits(), log)
        self._log_polls = _logs_info(log)
        self.on_parsed: ParsedHook | None = None

    def state(self, feed_url: str) -> dict[str, str]:
        return read_hash(self.client, self.keys.feed_state(feed_url))

    def poll(
        self, feed: FeedLike, state: Mapping[str, str] | None = None, *, finish: Finish = None
    ) -> PollOutcome:
        """Poll `feed` once; `state` is its stored state when the caller already read it.
        `finish` adds the caller's own commands (releasing a lease, a host slot) to the
        pipeline that writes the new state, after it: one round trip, and the state is written
        before anything is released."""
        with METRICS.timed("wirewatch_poll_duration_seconds"):
            outcome = self._poll(feed, state, finish)
        METRICS.inc("wirewatch_polls_total", outcome=outcome.status)
        return outcome

    def _poll(self, feed: FeedLike, state: Mapping[str, str] | None, finish: Finish) -> PollOutcome:
        current = dict(state) if state is not None else self.state(feed.url)
        try:
            success = self._fetch_and_queue(feed, current)
        except FetchError as exc:
            return self._record_error(feed, current, exc, finish)
        outcome = self._record_success(feed, current, success, finish)
        if self._log_polls:  # most polls are unchanged: no log call at all below info
            self.log.info("feed_polled", feed=feed_name(feed), status=outcome.status,
                          new_items=outcome.new_items)  # fmt: skip
        return outcome

    def _write_state(
        self, feed: FeedLike, state: Mapping[str, str], fields: Mapping[str, str], finish: Finish
    ) -> None:
        """Write the fields whose value changed (`state` is what is stored: the caller read it
        under the feed's lease); an unchanged poll mostly moves only its times."""
        changed = {name: value for name, value in fields.items() if state.get(name) != value}
        if finish is None:
            if changed:
                write_hash(self.client, self.keys.feed_state(feed.url), changed)
            return
        pipe = self.client.pipeline(transaction=False)
        if changed:
            mapping: Any = changed
            pipe.hset(self.keys.feed_state(feed.url), mapping=mapping)
        finish(pipe)
        pipe.execute()

    def _fetch_and_queue(self, feed: FeedLike, state: Mapping[str, str]) -> _Success:
        # With a parsed-feed hook (WebSub discovery), a feed whose body it has never seen is
        # fetched and parsed whole once: one unchanged since before the hook was set would
        # otherwise answer 304 (or the same body) forever, and its hub would never be found.
        first_look = self.on_parsed is not None and not state.get("hook_saw_body")
        result = self.fetcher.fetch(
            feed.url,
            trusted=True,
            etag=None if first_look else state.get("etag") or None,
            last_modified=None if first_look else state.get("last_modified") or None,
        )
        if result.not_modified:
            return _Success(result.headers, {})
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.get("body_hash") and not first_look:
            return _Success(result.headers, validators(result))
        content_type = result.headers.get("content-type")
        known = decode_known(state.get("known_entries"))
        delta = parse_feed_delta(result.body, url=result.url, content_type=content_type,
                                 known=known)  # fmt: skip
        name = feed_name(feed)
        items = [to_feed_item(e, feed.url, name, list(feed.tags)) for e in delta.feed.entries]
        kept = [k.identity for k in delta.kept]
        keep = entries_to_keep(len(items) + len(kept))  # the whole body was seen: bound it
        formers = former_members(delta.feed.entries)
        queued = self.intake.enqueue(feed.url, items, also_seen=kept, keep=keep, formers=formers)
        added = queued.added
        updates = {**validators(result), "body_hash": body_hash, **parsed_facts(delta)}
        if self.on_parsed is not None:
            self.on_parsed(feed, result.url, result.headers, delta.feed)
            updates["hook_saw_body"] = "1"
        updates["known_entries"] = encode_known(delta.known) if delta.known is not None else ""
        updates["deferred_items"] = str(queued.deferred) if queued.deferred else ""
        if queued.deferred:
            updates.update(_PARSE_WHOLE_NEXT_TIME)
            limit = self.policy.max_new_items
            self.log.warning("feed_items_deferred", feed=name, queued=added,
                             deferred=queued.deferred, max_new_items=limit)  # fmt: skip
        if added:
            updates["last_new_item"] = str(self.clock())
        return _Success(result.headers, updates, added)

    def _record_success(
        self, feed: FeedLike, state: Mapping[str, str], success: _Success, finish: Finish
    ) -> PollOutcome:
        bounds = self.policy.bounds(feed)
        decided = after_success(
            state, success.updates, success.headers, bounds, self.clock(), self.rand()
        )
        self._write_state(feed, state, decided.fields, finish)
        status = PollStatus.NEW_ITEMS if success.added else PollStatus.UNCHANGED
        return PollOutcome(success.added, decided.delay_s, status)

    def _record_error(
        self, feed: FeedLike, state: Mapping[str, str], exc: FetchError, finish: Finish
    ) -> PollOutcome:
        now = self.clock()
        error = f"{exc.reason}: {exc}"
        bounds = self.policy.bounds(feed)
        decided = after_error(state, error, _retry_after(exc, now), bounds, now, self.rand())
        fields, delay = decided.fields, decided.delay_s
        self._write_state(feed, state, fields, finish)
        log = self.log.bind(feed=feed_name(feed))
        errors = int(fields["consecutive_errors"])
        log.warning("feed_failed", error=error, consecutive_errors=errors, retry_in_s=round(delay))
        self._maybe_alert(feed, {**state, **fields}, now, log)
        return PollOutcome(0, delay, PollStatus.ERROR, error)

    def _maybe_alert(self, feed: FeedLike, state: Mapping[str, str], now: float, log: Any) -> None:
        if self.alerts is None or not unhealthy_due(state, now, self.policy.health):
            return
        event = unhealthy_event(feed.url, feed_name(feed), state, now)
        if self.alerts.emit(event, now):
            log.warning("feed_unhealthy", alert_id=event["alert_id"], since=event["failing_since"])


def _logs_info(log: Any) -> bool:
    """Whether `log` would emit an info event (structlog's filtering loggers make the calls
    below their level no-ops; asking once saves the call on every poll)."""
    is_enabled = getattr(log, "is_enabled_for", None)
    return True if is_enabled is None else bool(is_enabled(logging.INFO))


def _retry_after(exc: FetchError, now: float) -> float | None:
    """The Retry-After a 429 or 503 asked for; other statuses' headers are not about load."""
    if not isinstance(exc, HttpStatusFetchError) or exc.status not in RETRY_AFTER_STATUSES:
        return None
    return retry_after_seconds(exc.retry_after, datetime.fromtimestamp(now, UTC))
