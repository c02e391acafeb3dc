"""The watchlist set every worker matches against, shared through Redis and reloaded live.

Whoever loads a configuration (a worker starting, a worker seeing its config files change or
receiving SIGHUP, `wirewatch reload`) validates and compiles its watchlists first, and publishes
them only if they compile: a broken watchlist never reaches a worker. Workers look at the shared
version before each batch (at most once a second) and switch to a new set as soon as it appears,
so every worker on every machine moves to the same set within about a second, without a restart.
If a published set fails to compile in a worker, that worker keeps its last good set.
Every publish merges in the watchlists made through the HTTP API (pipeline/apiwatchlists.py;
config ids win), so no worker or config reload ever drops them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import redis

from worker.errors import ConfigError, QueryError
from worker.pipeline.apiwatchlists import read_api_watchlists
from worker.queue.connection import Client, read_hash
from worker.queue.keys import Keys
from worker.rules import Matcher

_CHECK_EVERY_S = 1.0


class WatchlistLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def notify(self) -> list[str]: ...


@dataclass(frozen=True)
class WatchlistInfo:
    name: str
    notify: list[str]


@dataclass(frozen=True)
class WatchlistSet:
    """A compiled matcher and the watchlists it came from: always used together."""

    version: int
    digest: str
    matcher: Matcher
    table: Mapping[str, WatchlistInfo]


def payload_of(watchlists: Iterable[WatchlistLike]) -> str:
    rows = [
        {"id": w.id, "name": w.name, "query": w.query, "notify": list(w.notify)} for w in watchlists
    ]
    return json.dumps(rows, ensure_ascii=False, sort_keys=True)


def compile_payload(payload: str, version: int) -> WatchlistSet:
    """Compile a published payload; raises QueryError if any query does not parse."""
    rows = json.loads(payload)
    matcher = Matcher.compile((row["id"], row["query"]) for row in rows)
    table = {row["id"]: WatchlistInfo(row["name"], list(row["notify"])) for row in rows}
    return WatchlistSet(version, hashlib.sha256(payload.encode()).hexdigest(), matcher, table)


class SharedWatchlists:
    def __init__(
        self, client: Client, keys: Keys, log: Any, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.key = keys.watchlists
        self.keys = keys
        self.log = log
        self.clock = clock
        self._current: WatchlistSet | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def publish(self, watchlists: Iterable[WatchlistLike]) -> int:
        """Validate, then make these (the config's) and the API-made watchlists the set of every
        worker; returns the version in force. Watching both hashes, a concurrent API change is
        never overwritten by a set read before it."""
        config_rows = list(watchlists)
        while True:
            try:
                return self._publish_once(config_rows)
            except redis.WatchError:
                continue

    def _publish_once(self, config_rows: list[WatchlistLike]) -> int:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(self.key, self.keys.api_watchlists)
            config_ids = {w.id for w in config_rows}
            api = [w for w in read_api_watchlists(pipe, self.keys) if w.id not in config_ids]
            payload = payload_of([*config_rows, *api])
            config_payload = payload_of(config_rows)
            candidate = compile_payload(payload, 0)
            state: Any = pipe.hgetall(self.key)
            if state.get("digest") == candidate.digest and state.get("config") == config_payload:
                return int(state["version"])
            pipe.multi()
            pipe.hincrby(self.key, "version", 1)
            fields: Any = {"digest": candidate.digest, "payload": payload, "config": config_payload}
            pipe.hset(self.key, mapping=fields)
            version = int(pipe.execute()[0])
        self.log.info("watchlists_published", version=version, watchlists=len(candidate.table))
        with self._lock:  # already compiled: no need to compile it again on the next refresh
            self._current = replace(candidate, version=version)
        return version

    def current(self) -> WatchlistSet:
        """The set in force, refreshed from Redis at most once a second."""
        with self._lock:
            if self._current is None or self.clock() - self._checked_at >= _CHECK_EVERY_S:
                self._refresh()
                self._checked_at = self.clock()
            if self._current is None:
                raise ConfigError(["no watchlists have been published to Redis yet"])
            return self._current

    def _refresh(self) -> None:
        state = read_hash(self.client, self.key)
        version = int(state.get("version") or 0)
        if not version or (self._current is not None and self._current.version == version):
            return
        try:
            self._current = compile_payload(state["payload"], version)
        except (QueryError, KeyError, ValueError) as exc:
            self.log.error(
                "watchlists_rejected", version=version, error=str(exc), kept=self._version()
            )
            return
        self.log.info("watchlists_loaded", version=version, watchlists=len(self._current.table))

    def _version(self) -> int | None:
        return self._current.version if self._current else None


def publisher(
    shared: SharedWatchlists, log: Any, path: Path
) -> Callable[[Iterable[WatchlistLike]], None]:
    """What the worker's config watcher applies: publish the loaded watchlists to every worker
    (they are validated first: a broken one never reaches a worker)."""

    def publish(watchlists: Iterable[WatchlistLike]) -> None:
        version = shared.publish(watchlists)
        log.info("config_reloaded", config=str(path), version=version)

    return publish
