"""The articles of stories that alerted, for the API's story view (`GET /api/v1/stories/{id}`).

The story index itself keeps only hashes, not which articles a story holds. So a worker notes
each article of a story that alerted: the article that alerted opens the story's record, and
every later article of that story (exact duplicates included: they are its other sources) is
added to it. One script per item writes only when the record exists, so the many stories that
never alert cost one round trip and no memory. A record lives as long as the alert index keeps
alerts (`web.alert_retention`'s default), refreshed by each article.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.records import Article

STORY_TTL_S = 30 * 86400

# KEYS: the story's record. ARGV: open (1: the article alerted), field, JSON, TTL.
_NOTE = """
if ARGV[1] == '1' or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
  return 1
end
return 0
"""


def article_entry(article: Article, story_articles: int, seen_at: datetime) -> str:
    seen = {
        **article.payload(),
        "seen_at": seen_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "story_articles": story_articles,
    }
    return json.dumps(seen, ensure_ascii=False)


class StoryLog:
    def __init__(self, client: Client, keys: Keys, ttl_s: int = STORY_TTL_S) -> None:
        self.keys = keys
        self.ttl_s = ttl_s
        self._note = client.register_script(_NOTE)

    def note(self, story_id: str, article: Article, story_articles: int, alerted: bool) -> bool:
        """Add the article to its story's record (opening it when `alerted`); True if written."""
        field = article.canonical_url or article.url or article.title
        entry = article_entry(article, story_articles, datetime.now(UTC))
        args: list[Any] = ["1" if alerted else "0", field, entry, self.ttl_s]
        return bool(self._note(keys=[self.keys.web_story(story_id)], args=args))
