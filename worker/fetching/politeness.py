"""Politeness per host, shared by every process through Redis.

Two rules per host: at most `max_concurrent` requests in flight, and at least `min_spacing_s`
between the starts of two requests. One Lua script checks both and takes a slot atomically, so
any number of schedulers (and workers, through the same API) on any number of machines share
the limits. A slot is a lease that expires, so a process that dies mid-request frees its slot.
Times are Redis's own clock (TIME inside the script): machines whose clocks disagree still agree
on the spacing.

`HostGate.try_acquire` never blocks (the scheduler reschedules a feed whose host is busy instead
of tying up a thread); `HostGate.hold` waits, for callers such as the article fetcher.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from worker.errors import FetchTimeoutError
from worker.queue.connection import Client
from worker.queue.keys import Keys

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, spacing, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(math.min(tonumber(first[2]) - now, math.max(spacing, 200)), 1)
end
local next_at = tonumber(redis.call('GET', KEYS[2]) or '0')
if next_at > now then
  return next_at - now
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
if spacing > 0 then
  redis.call('SET', KEYS[2], now + spacing, 'PX', spacing)
end
return 0
"""

DEFAULT_MAX_CONCURRENT = 2
DEFAULT_MIN_SPACING_S = 1.0


@dataclass(frozen=True)
class HostLimit:
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    min_spacing_s: float = DEFAULT_MIN_SPACING_S


@dataclass(frozen=True)
class HostSlot:
    host: str
    token: str


def host_of(url: str) -> str:
    """The politeness unit: the lower-case host name (every port of a host shares it)."""
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def limit_for(host: str, default: HostLimit, overrides: Mapping[str, HostLimit]) -> HostLimit:
    """The override for `host` or its nearest configured parent domain (`example.com` covers
    `feeds.example.com`), else the default."""
    labels = host.split(".")
    for start in range(len(labels)):
        found = overrides.get(".".join(labels[start:]))
        if found is not None:
            return found
    return default


class HostGate:
    def __init__(
        self,
        client: Client,
        keys: Keys,
        *,
        default: HostLimit = HostLimit(),
        overrides: Mapping[str, HostLimit] | None = None,
        lease_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.keys = keys
        self.default = default
        self.overrides = {k.lower().rstrip("."): v for k, v in (overrides or {}).items()}
        self.lease_s = lease_s
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)

    def limit(self, host: str) -> HostLimit:
        return limit_for(host, self.default, self.overrides)

    def try_acquire(self, url: str) -> HostSlot | float:
        """A slot for a request to `url`'s host, or the seconds to wait before asking again."""
        host = host_of(url)
        limit = self.limit(host)
        token = uuid.uuid4().hex
        spacing_ms = int(limit.min_spacing_s * 1000)
        args: list[Any] = [token, limit.max_concurrent, spacing_ms, self._lease_ms()]
        keys = [self.keys.host_slots(host), self.keys.host_next(host)]
        wait_ms = int(self._acquire(keys=keys, args=args))
        return HostSlot(host, token) if wait_ms == 0 else wait_ms / 1000.0

    def release(self, slot: HostSlot, client: Any = None) -> None:
        """Free `slot` (with `client`, a pipeline: queued there)."""
        (self.client if client is None else client).zrem(
            self.keys.host_slots(slot.host), slot.token
        )

    def acquire(self, url: str, max_wait_s: float) -> HostSlot:
        """Wait for a slot up to `max_wait_s`; FetchTimeoutError when the host stays busy."""
        give_up = time.monotonic() + max_wait_s
        while True:
            got = self.try_acquire(url)
            if isinstance(got, HostSlot):
                return got
            if time.monotonic() + got > give_up:
                raise FetchTimeoutError(f"{url}: host stayed busy for {max_wait_s:g}s")
            self._sleep(got)

    @contextmanager
    def hold(self, url: str, max_wait_s: float) -> Iterator[HostSlot]:
        """`with gate.hold(url, 60): fetch(url)`: the request runs inside the host's limits."""
        slot = self.acquire(url, max_wait_s)
        try:
            yield slot
        finally:
            self.release(slot)

    def _lease_ms(self) -> int:
        return max(int(self.lease_s * 1000), 1)
