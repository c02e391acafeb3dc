"""Polling one feed: conditional GET, parse, queue the entries never seen before, keep state.

Per-feed state (validators, body hash, last success, last error, consecutive errors, next poll)
lives in a Redis hash so that it survives restarts and is shared by every scheduler process.
Entry identities live in one sorted set scored by when each was last seen: an entry is queued the
first time only, and forgotten only after it has been absent from its feed for the retention time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from worker.errors import FetchError
from worker.fetching import Fetcher
from worker.polling.backoff import next_poll_delay
from worker.polling.feeds import parse_feed, to_feed_item
from worker.queue.connection import Client, read_hash, write_hash
from worker.queue.keys import Keys, short_hash
from worker.records import FeedItem

_ENQUEUE_NEW = """
local added = 0
for i = 3, #ARGV, 2 do
  local known = redis.call('ZSCORE', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  if not known then
    redis.call('XADD', KEYS[2], '*', 'item', ARGV[i + 1])
    added = added + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
return added
"""


class FeedLike(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def interval(self) -> float: ...
    @property
    def tags(self) -> list[str]: ...


@dataclass(frozen=True)
class PollPolicy:
    jitter: float
    max_backoff_s: float
    seen_retention_s: float


@dataclass(frozen=True)
class PollOutcome:
    new_items: int
    next_delay_s: float
    status: str  # "new_items", "unchanged", "error"
    error: str = ""


def seen_member(item: FeedItem) -> str:
    return f"{short_hash(item.feed_url)}:{short_hash(item.entry_id)}"


def feed_name(feed: FeedLike) -> str:
    return feed.name or feed.url


def validators(headers: dict[str, str]) -> dict[str, str]:
    return {"etag": headers.get("etag", ""), "last_modified": headers.get("last-modified", "")}


class FeedPoller:
    def __init__(
        self,
        client: Client,
        keys: Keys,
        fetcher: Fetcher,
        policy: PollPolicy,
        log: Any,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.keys = keys
        self.fetcher = fetcher
        self.policy = policy
        self.log = log
        self.clock = clock
        self._enqueue = client.register_script(_ENQUEUE_NEW)

    def state(self, feed_url: str) -> dict[str, str]:
        return read_hash(self.client, self.keys.feed_state(feed_url))

    def poll(self, feed: FeedLike) -> PollOutcome:
        state = self.state(feed.url)
        log = self.log.bind(feed=feed_name(feed))
        try:
            outcome = self._fetch_and_queue(feed, state)
        except FetchError as exc:
            return self._record_error(feed, state, exc, log)
        log.info("feed_polled", status=outcome.status, new_items=outcome.new_items)
        return outcome

    def _fetch_and_queue(self, feed: FeedLike, state: dict[str, str]) -> PollOutcome:
        result = self.fetcher.fetch(
            feed.url,
            trusted=True,
            etag=state.get("etag") or None,
            last_modified=state.get("last_modified") or None,
        )
        if result.not_modified:
            return self._record_success(feed, {}, 0, "unchanged")
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.get("body_hash"):
            return self._record_success(feed, validators(result.headers), 0, "unchanged")
        content_type = result.headers.get("content-type")
        parsed = parse_feed(result.body, url=result.url, content_type=content_type)
        name = feed_name(feed)
        items = [to_feed_item(e, feed.url, name, list(feed.tags)) for e in parsed.entries]
        added = self.enqueue(items)
        updates = {**validators(result.headers), "body_hash": body_hash}
        if added:
            updates["last_new_item"] = str(self.clock())
        return self._record_success(feed, updates, added, "new_items" if added else "unchanged")

    def enqueue(self, items: Sequence[FeedItem]) -> int:
        """Queue the items whose identity was never seen; atomic with marking them seen."""
        now = self.clock()
        args: list[Any] = [now, now - self.policy.seen_retention_s]
        for item in items:
            args += [seen_member(item), item.to_json()]
        return int(self._enqueue(keys=[self.keys.seen_entries, self.keys.items_stream], args=args))

    def _delay(self, feed: FeedLike, errors: int) -> float:
        return next_poll_delay(
            feed.interval,
            errors,
            max_backoff_s=self.policy.max_backoff_s,
            jitter=self.policy.jitter,
            rand=random.random(),
        )

    def _record_success(
        self, feed: FeedLike, updates: dict[str, str], added: int, status: str
    ) -> PollOutcome:
        now = self.clock()
        delay = self._delay(feed, 0)
        fields = {**updates, "status": "ok", "last_success": str(now), "consecutive_errors": "0"}
        fields["next_poll"] = str(now + delay)
        write_hash(self.client, self.keys.feed_state(feed.url), fields)
        return PollOutcome(added, delay, status)

    def _record_error(
        self, feed: FeedLike, state: dict[str, str], exc: FetchError, log: Any
    ) -> PollOutcome:
        now = self.clock()
        errors = int(state.get("consecutive_errors") or 0) + 1
        delay = self._delay(feed, errors)
        error = f"{exc.reason}: {exc}"
        fields = {
            "status": "error",
            "last_error": error,
            "last_error_at": str(now),
            "consecutive_errors": str(errors),
            "next_poll": str(now + delay),
        }
        write_hash(self.client, self.keys.feed_state(feed.url), fields)
        log.warning("feed_failed", error=error, consecutive_errors=errors, retry_in_s=round(delay))
        return PollOutcome(0, delay, "error", error)
