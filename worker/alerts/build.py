"""Alert ids and payloads: pure functions over an article, a watchlist and its hits.

Ids are deterministic (from watchlist and story), so re-processing an item after a crash yields
the same alert id, which the emit step refuses to emit twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from worker.alerts.envelope import EventType, envelope_body
from worker.records import Article

ALERT_CREATED = EventType.ALERT_CREATED
STORY_UPDATED = EventType.STORY_UPDATED


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:24]


def alert_id_for(watchlist_id: str, story_id: str) -> str:
    return "al_" + _digest(watchlist_id, story_id)


def alert_data(
    article: Article,
    watchlist: tuple[str, str],
    story: tuple[str, int],
    matches: list[dict[str, str]],
) -> dict[str, Any]:
    """The `data` object of the webhook payload (the README's documented contract)."""
    watchlist_id, watchlist_name = watchlist
    story_id, story_articles = story
    return {
        "alert_id": alert_id_for(watchlist_id, story_id),
        "watchlist": {"id": watchlist_id, "name": watchlist_name},
        "article": article.payload(),
        "story": {"id": story_id, "articles": story_articles},
        "matches": matches,
    }


def webhook_body(
    data: dict[str, Any], created_at: datetime, event: EventType = EventType.ALERT_CREATED
) -> str:
    """The exact JSON body sent (and signed); the same bytes on every retry."""
    return envelope_body(event, data, created_at.timestamp())


def story_update_data(
    article: Article, watchlist: tuple[str, str], story: tuple[str, int]
) -> dict[str, Any]:
    """The `data` of a `story.updated` event: the story's new size and the article that grew it.

    `event_id` is deterministic (alert and size), so a retried update is the same message.
    """
    data = alert_data(article, watchlist, story, [])
    data["event_id"] = "su_" + _digest(data["alert_id"], str(story[1]))
    return data
