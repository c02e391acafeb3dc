"""The web role served in a thread on a free loopback port, against the test's Redis."""

from __future__ import annotations

import json
import tempfile
import threading
from typing import Any

import httpx

from tests.support.roles import free_port, wait_until
from worker.config import Settings
from worker.observability.logging import get_logger
from worker.queue.connection import open_client
from worker.queue.keys import Keys
from worker.roles.web import serve
from worker.web.context import WebContext

READ, WRITE, ADMIN = "read-token-0123456789", "write-token-0123456789", "admin-token-0123456789"
TOKENS = [
    {"id": "reader", "token": READ, "scope": "read"},
    {"id": "writer", "token": WRITE, "scope": "write"},
    {"id": "admin", "token": ADMIN, "scope": "admin"},
]


def web_settings(redis_url: str, prefix: str, **sections: Any) -> Settings:
    web = {"listen": f"127.0.0.1:{free_port()}", "tokens": TOKENS, **sections.pop("web", {})}
    # An archive the API may open (search, backtest) goes under a temporary folder, never the
    # working directory.
    sections.setdefault("data_dir", tempfile.mkdtemp(prefix="wirewatch-web-test-"))
    return Settings.model_validate(
        {"redis_url": redis_url, "redis_prefix": prefix, "web": web, **sections}
    )


class RunningWeb:
    """`with RunningWeb(settings) as web:`; `web.get(path, token)` and friends."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self.settings = settings
        self.client = open_client(settings.redis_url)
        self.ctx = WebContext.build(
            settings, self.client, Keys(settings.redis_prefix), get_logger()
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=serve, args=(self.ctx, self.stop))
        host, _, port = settings.web.listen.rpartition(":")
        self.base = f"http://{host}:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def __enter__(self) -> RunningWeb:
        self.thread.start()
        assert wait_until(self._answers, timeout=30), "the web role did not start"
        return self

    def _answers(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.http.close()
        self.client.close()

    def call(self, method: str, path: str, token: str | None = READ, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, path, headers=headers, **kw)

    def get(self, path: str, token: str | None = READ, **kw: Any) -> httpx.Response:
        return self.call("GET", path, token, **kw)


def add_alerts(
    client: Any,
    keys: Keys,
    watchlist: str,
    count: int,
    notify: list[str] | None = None,
    story_prefix: str = "st_",
) -> list[str]:
    """`count` alerts of `watchlist` on the alerts stream, as a worker emits them, and in the
    alert index, as a notifier takes them; their ids."""
    from datetime import UTC, datetime

    from worker.alerts.build import alert_data, webhook_body
    from worker.alerts.index import AlertIndex
    from worker.records import Article

    pipe = client.pipeline(transaction=False)
    ids: list[str] = []
    added: list[dict[str, str]] = []
    now = datetime.now(UTC)
    for i in range(count):
        article = Article(
            url=f"https://news.example/{watchlist}/{i}",
            canonical_url="",
            title=f"{watchlist} {i}",
            text="",
            feed_url="https://news.example/feed",
            feed_name="Example News",
        )
        match = {"field": "title", "text": watchlist, "snippet": f"… {watchlist} {i} …"}
        data = alert_data(
            article, (watchlist, watchlist.title()), (f"{story_prefix}{i}", 1), [match]
        )
        ids.append(data["alert_id"])
        fields = {"notify": json.dumps(notify or []), "body": webhook_body(data, now)}
        pipe.xadd(keys.alerts_stream, fields)
        added.append(fields)
    entry_ids = pipe.execute()
    AlertIndex(client, keys, 30 * 86400, 1_000_000).ingest(list(zip(entry_ids, added, strict=True)))
    return ids
