"""What every request handler of the web role shares: Redis, settings, stores and the logger."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from worker.alerts.history import DeliveryHistory
from worker.alerts.index import AlertIndex, AsyncPageReader
from worker.config import Settings
from worker.pipeline.apiwatchlists import ApiWatchlist, ApiWatchlistStore
from worker.pipeline.watchlists import SharedWatchlists
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.rules import Matcher
from worker.web.auth import Authenticator

_FEED_KEY_BYTES = 24


@dataclass(frozen=True)
class ConfigWatchlist:
    id: str
    name: str
    query: str
    notify: list[str] = field(default_factory=list)


@lru_cache(maxsize=512)
def compiled(query: str) -> Matcher:
    """A one-rule matcher per query text, compiled once (POST /match repeats queries)."""
    return Matcher.compile([("query", query)])


@dataclass
class WebContext:
    settings: Settings
    client: Client
    keys: Keys
    log: Any
    auth: Authenticator
    index: AlertIndex
    api_store: ApiWatchlistStore
    shared: SharedWatchlists
    history: DeliveryHistory
    redis_url: str = ""
    aclient: Any = None  # an asyncio Redis client (bytes replies), open while the app runs
    pages: AsyncPageReader | None = None  # alert pages on `aclient` (app.lifespan)

    @classmethod
    def build(
        cls, settings: Settings, client: Client, keys: Keys, log: Any, redis_url: str = ""
    ) -> WebContext:
        web = settings.web
        return cls(
            settings,
            client,
            keys,
            log,
            Authenticator(web.tokens, web.auth_failures_per_minute, log),
            AlertIndex(client, keys, web.alert_retention, web.alert_max),
            ApiWatchlistStore(client, keys),
            SharedWatchlists(client, keys, log),
            DeliveryHistory(client, keys),
            redis_url or settings.redis_url or "",
        )

    def config_watchlists(self) -> list[ConfigWatchlist]:
        """The config's watchlists in force: those the workers last published, else this
        process's own config."""
        payload: Any = self.client.hget(self.keys.watchlists, "config")
        if payload:
            return [ConfigWatchlist(**row) for row in json.loads(payload)]
        own = self.settings.watchlists
        return [ConfigWatchlist(w.id, w.name, w.query, list(w.notify)) for w in own]

    def republish(self) -> int:
        """Publish the config's and the API's watchlists to every worker."""
        return self.shared.publish(self.config_watchlists())

    def watchlist_query(self, watchlist_id: str) -> str | None:
        for row in self.config_watchlists():
            if row.id == watchlist_id:
                return row.query
        api: ApiWatchlist | None = self.api_store.get(watchlist_id)
        return api.query if api else None

    def feed_key(self, watchlist_id: str, rotate: bool = False) -> str:
        """The key that opens a watchlist's alert feeds, made on first use."""
        fresh = secrets.token_urlsafe(_FEED_KEY_BYTES)
        if rotate:
            self.client.hset(self.keys.feed_keys, watchlist_id, fresh)
            return fresh
        self.client.hsetnx(self.keys.feed_keys, watchlist_id, fresh)
        return str(self.client.hget(self.keys.feed_keys, watchlist_id))
