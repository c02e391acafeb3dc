"""Watchlists made through the HTTP API: stored in Redis with every version, merged into the set
every worker matches against.

The config's watchlists stay in the config files; these live in a Redis hash (id -> current
version) beside a list of all versions per id. `SharedWatchlists.publish` merges them into the
published set (config ids win: an API watchlist can never shadow a configured one), so a worker
starting, a config reload and `wirewatch reload` all keep them; the web role republishes after
every change, and workers pick the new set up within about a second.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from worker.errors import QueryError
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.rules import parse_query


@dataclass(frozen=True)
class ApiWatchlist:
    id: str
    name: str
    query: str
    notify: list[str] = field(default_factory=list)
    version: int = 1
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ApiWatchlist:
        data: dict[str, Any] = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def parses(query: str) -> bool:
    try:
        parse_query(query)
    except QueryError:
        return False
    return True


def read_api_watchlists(client: Any, keys: Keys) -> list[ApiWatchlist]:
    """Every API-made watchlist whose query parses, by id (`client` may be a watching pipeline).

    One that no longer parses (the query language changed under it) is left out rather than
    stopping every worker's publish; the API still lists it, so it can be fixed."""
    raw: Any = client.hgetall(keys.api_watchlists)
    found = [ApiWatchlist.from_json(str(v)) for _, v in sorted(raw.items())]
    return [w for w in found if parses(w.query)]


class ApiWatchlistStore:
    """Create, replace and delete API watchlists, keeping every version."""

    def __init__(self, client: Client, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def all(self) -> list[ApiWatchlist]:
        raw: Any = self.client.hgetall(self.keys.api_watchlists)
        return [ApiWatchlist.from_json(str(v)) for _, v in sorted(raw.items())]

    def get(self, watchlist_id: str) -> ApiWatchlist | None:
        raw: Any = self.client.hget(self.keys.api_watchlists, watchlist_id)
        return ApiWatchlist.from_json(str(raw)) if raw else None

    def save(self, watchlist_id: str, name: str, query: str, notify: list[str]) -> ApiWatchlist:
        """Store a new version (the first, or the next after the last kept, deleted or not)."""
        now = time.time()
        history = self.keys.watchlist_versions(watchlist_id)
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self.keys.api_watchlists, history)
                    current = pipe.hget(self.keys.api_watchlists, watchlist_id)
                    length: Any = pipe.llen(history)
                    version = int(length) + 1
                    created = ApiWatchlist.from_json(str(current)).created_at if current else now
                    saved = ApiWatchlist(watchlist_id, name, query, notify, version, created, now)
                    pipe.multi()
                    pipe.hset(self.keys.api_watchlists, watchlist_id, saved.to_json())
                    pipe.rpush(history, json.dumps({**asdict(saved), "deleted": False}))
                    pipe.execute()
                    return saved
                except redis.WatchError:  # another version was saved meanwhile: number again
                    continue

    def delete(self, watchlist_id: str) -> bool:
        """Remove it from the set; its versions stay (a deletion is recorded as one)."""
        current = self.get(watchlist_id)
        if current is None:
            return False
        history = self.keys.watchlist_versions(watchlist_id)
        marker = {**asdict(current), "updated_at": time.time(), "deleted": True}
        marker["version"] = int(self.client.llen(history)) + 1
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.keys.api_watchlists, watchlist_id)
        pipe.rpush(history, json.dumps(marker, ensure_ascii=False))
        removed = pipe.execute()[0]
        return bool(removed)

    def versions(self, watchlist_id: str) -> list[dict[str, Any]]:
        raw: Any = self.client.lrange(self.keys.watchlist_versions(watchlist_id), 0, -1)
        return [json.loads(str(v)) for v in raw]
