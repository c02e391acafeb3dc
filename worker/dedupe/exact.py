"""Exact duplicates: an article whose canonical URL or extracted-text hash was already claimed.

Each key is claimed by the item that first saw it (its identity as the value), so the same item
processed again after a crash is recognised as itself and not dropped as its own duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from worker.queue.connection import Client
from worker.queue.keys import Keys

# Shorter texts (a headline-only fallback, say) are too generic to call two articles the same.
MIN_TEXT_FOR_HASH = 200

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


class Verdict(Enum):
    NEW = "new"
    SAME_URL = "duplicate_url"
    SAME_TEXT = "duplicate_text"


@dataclass
class ExactDedupe:
    client: Client
    keys: Keys
    window_s: float

    def __post_init__(self) -> None:
        self._claim = self.client.register_script(_CLAIM)

    def claim(self, owner: str, url_hash: str, text_hash: str | None) -> Verdict:
        """Claim the article's keys for `owner`, unless another item holds one of them."""
        keys = [self.keys.dedupe_url(url_hash)]
        if text_hash:
            keys.append(self.keys.dedupe_text(text_hash))
        result = int(self._claim(keys=keys, args=[owner, int(self.window_s)]))
        return [Verdict.NEW, Verdict.SAME_URL, Verdict.SAME_TEXT][result]
