"""Subscriptions in Redis: one hash per feed, a due-time index, the token map, per-feed locks.

Every key is under the `{<prefix>:websub}` hash tag (worker/queue/keys.py). Updates that race
with a hub's verification request (which may arrive while our subscribe request is still in
flight) are compare-and-set: they apply only if the fields they depend on are unchanged.
The record holds the subscription's secret: nothing here logs a record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from worker.queue.connection import Client, read_hash, read_hashes
from worker.queue.keys import Keys

# KEYS: hash, due set. ARGV: member, due score ('' keeps it), n, n (field, expected) pairs, then
# (field, value) pairs to set. Applies only if every expected field holds its value ('' = unset).
_UPDATE_IF = """
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[1], ARGV[4 + 2 * i]) or ''
  if current ~= ARGV[5 + 2 * i] then return 0 end
end
local first = 4 + 2 * n
if #ARGV >= first then
  redis.call('HSET', KEYS[1], unpack(ARGV, first))
end
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return 1
"""

# KEYS: hash, due set. ARGV: feed URL, hub, topic, base URL, now. Records a changed hub; the
# manager looks at the feed at once. A feed naming no hub and never recorded stays unrecorded.
_RECORD_HUB = """
local hub = redis.call('HGET', KEYS[1], 'hub')
local topic = redis.call('HGET', KEYS[1], 'topic')
local base = redis.call('HGET', KEYS[1], 'base_url') or ''
if hub == ARGV[2] and topic == ARGV[3] and base == ARGV[4] then return 0 end
if not hub and ARGV[2] == '' then return 0 end
redis.call('HSET', KEYS[1], 'feed_url', ARGV[1], 'hub', ARGV[2], 'topic', ARGV[3],
           'base_url', ARGV[4], 'found_at', ARGV[5])
redis.call('HSETNX', KEYS[1], 'state', 'discovered')
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return 1
"""

# KEYS: hash, due set, token map. ARGV: feed URL, token ('' for none), n, n (field, expected)
# pairs. Drops the record, its due entry and token only if every expected field holds its value.
_FORGET_IF = """
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[1], ARGV[4 + 2 * i]) or ''
  if current ~= ARGV[5 + 2 * i] then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then redis.call('HDEL', KEYS[3], ARGV[2]) end
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WebSubStore:
    def __init__(self, client: Client, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._update_if = client.register_script(_UPDATE_IF)
        self._record_hub = client.register_script(_RECORD_HUB)
        self._forget_if = client.register_script(_FORGET_IF)
        self._unlock = client.register_script(_UNLOCK)

    def read(self, feed_url: str) -> dict[str, str]:
        return read_hash(self.client, self.keys.websub_subscription(feed_url))

    def read_many(self, feed_urls: Sequence[str]) -> dict[str, dict[str, str]]:
        """`read` of each feed, pipelined."""
        keys = [self.keys.websub_subscription(url) for url in feed_urls]
        return dict(zip(feed_urls, read_hashes(self.client, keys), strict=True))

    def has_record(self, feed_url: str) -> bool:
        return bool(self.client.exists(self.keys.websub_subscription(feed_url)))

    def feed_for_token(self, token: str) -> str | None:
        value: Any = self.client.hget(self.keys.websub_tokens, token)
        return str(value) if value is not None else None

    def record_hub(self, feed_url: str, hub: str, topic: str, base: str, now: float) -> bool:
        """Record a feed's hub, topic and base URL (where a redirected feed's body comes from;
        "" for the feed URL); True when they changed."""
        keys = [self.keys.websub_subscription(feed_url), self.keys.websub_due]
        return bool(self._record_hub(keys=keys, args=[feed_url, hub, topic, base, now]))

    def update_if(
        self,
        feed_url: str,
        expected: Mapping[str, str],
        fields: Mapping[str, str],
        due: float | None = None,
    ) -> bool:
        """Set `fields` (and the due time) only if every `expected` field holds its value."""
        args: list[Any] = [feed_url, "" if due is None else due, len(expected)]
        for pair in (*expected.items(), *fields.items()):
            args += pair
        keys = [self.keys.websub_subscription(feed_url), self.keys.websub_due]
        return bool(self._update_if(keys=keys, args=args))

    def map_token(self, token: str, feed_url: str) -> None:
        self.client.hset(self.keys.websub_tokens, token, feed_url)

    def unmap_token(self, token: str) -> None:
        self.client.hdel(self.keys.websub_tokens, token)

    def forget(self, feed_url: str, token: str, expected: Mapping[str, str] | None = None) -> bool:
        """Drop a subscription: its record, due entry and token (pushes to it then get 404);
        only if every `expected` field holds its value (a verification may race the manager)."""
        args: list[Any] = [feed_url, token, len(expected or {})]
        for pair in (expected or {}).items():
            args += pair
        keys = [
            self.keys.websub_subscription(feed_url),
            self.keys.websub_due,
            self.keys.websub_tokens,
        ]
        return bool(self._forget_if(keys=keys, args=args))

    def due(self, now: float, limit: int) -> list[str]:
        reply: Any = self.client.zrangebyscore(self.keys.websub_due, "-inf", now, 0, limit)
        return [str(member) for member in reply]

    def known_feeds(self) -> list[str]:
        reply: Any = self.client.zrange(self.keys.websub_due, 0, -1)
        return [str(member) for member in reply]

    def look_now(self, feed_url: str, now: float) -> None:
        self.client.zadd(self.keys.websub_due, {feed_url: now}, xx=True)

    def lock(self, feed_url: str, ttl_s: float) -> str | None:
        """A token when this process may act on the subscription, None when another does."""
        token = uuid.uuid4().hex
        acquired = self.client.set(
            self.keys.websub_lock(feed_url), token, nx=True, ex=max(int(ttl_s), 1)
        )
        return token if acquired else None

    def unlock(self, feed_url: str, token: str) -> None:
        self._unlock(keys=[self.keys.websub_lock(feed_url)], args=[token])
