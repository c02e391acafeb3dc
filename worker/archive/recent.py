"""The recent alerts, read back from the alerts stream (which keeps every alert emitted)."""

from __future__ import annotations

import json
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys

_PAGE = 500


def recent_alerts(
    client: Client, keys: Keys, since: float, watchlist: str | None = None
) -> list[dict[str, Any]]:
    """Alerts emitted since `since` (unix seconds), newest first: one flat dict each with the
    event type, its time, watchlist, article title and URL, story, and the full webhook data."""
    found: list[dict[str, Any]] = []
    upper = "+"
    lowest = f"{int(since * 1000)}-0"
    while True:
        page: Any = client.xrevrange(keys.alerts_stream, upper, lowest, count=_PAGE)
        for entry_id, fields in page:
            alert = _flat(entry_id, fields)
            if alert is not None and watchlist in (None, alert["watchlist"]):
                found.append(alert)
        if len(page) < _PAGE:
            return found
        upper = "(" + page[-1][0]


def _flat(entry_id: str, fields: dict[str, str]) -> dict[str, Any] | None:
    try:
        envelope = json.loads(fields["body"])
        data = envelope["data"]
    except (KeyError, ValueError, TypeError):
        return None  # not an alert this command can show (the notifier dead-letters those)
    article = data.get("article") or {}
    return {
        "id": data.get("event_id") or data.get("alert_id") or entry_id,
        "type": envelope.get("type", ""),
        "timestamp": envelope.get("timestamp", ""),
        "watchlist": (data.get("watchlist") or {}).get("id", ""),
        "title": article.get("title") or "",
        "url": article.get("url") or "",
        "story": (data.get("story") or {}).get("id", ""),
        "data": data,
    }
