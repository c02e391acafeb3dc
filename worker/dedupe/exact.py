"""Exact duplicates: an article whose canonical URL, extracted-text hash, or title within its own
feed was already claimed (the last for feeds that republish one story under a new URL and GUID).

Each key is claimed by the item that first saw it (its identity as the value), so the same item
processed again after a crash is recognised as itself and not dropped as its own duplicate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from worker.queue.connection import Client
from worker.queue.keys import Keys

# Shorter texts (a headline-only fallback, say) are too generic to call two articles the same.
MIN_TEXT_FOR_HASH = 200
# Titles shorter than this ("Live updates", "Morning briefing") recur daily for new stories.
MIN_TITLE_WORDS = 4
_NOT_WORD = re.compile(r"[\W_]+")

_CLAIM = """
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner and owner ~= ARGV[1] then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', tonumber(ARGV[2]))
end
return 0
"""


class Verdict(StrEnum):
    NEW = "new"
    SAME_URL = "duplicate_url"
    SAME_TEXT = "duplicate_text"
    SAME_TITLE = "duplicate_title"


def title_key(feed_url: str, title: str) -> str | None:
    """A hash of the title as its feed wrote it, normalised; None for titles too short to trust."""
    words = _NOT_WORD.sub(" ", title.casefold()).split()
    if len(words) < MIN_TITLE_WORDS:
        return None
    return hashlib.sha256(f"{feed_url}\n{' '.join(words)}".encode()).hexdigest()


@dataclass
class ExactDedupe:
    client: Client
    keys: Keys
    window_s: float

    def __post_init__(self) -> None:
        self._claim = self.client.register_script(_CLAIM)

    def claim(
        self, owner: str, url_hash: str, text_hash: str | None, title_hash: str | None = None
    ) -> Verdict:
        """Claim the article's keys for `owner`, unless another item holds one of them."""
        checks = [(Verdict.SAME_URL, self.keys.dedupe_url(url_hash))]
        if text_hash:
            checks.append((Verdict.SAME_TEXT, self.keys.dedupe_text(text_hash)))
        if title_hash:
            checks.append((Verdict.SAME_TITLE, self.keys.dedupe_title(title_hash)))
        keys = [key for _, key in checks]
        taken = int(self._claim(keys=keys, args=[owner, int(self.window_s)]))
        return checks[taken - 1][0] if taken else Verdict.NEW
