"""The story index as it was before issue 17 (pooled MinHash votes), kept for bench/stories_stream.py
only: the stream bench runs it beside worker/dedupe/stories.py in the same run. Not used by the
worker. Unchanged from worker/dedupe/stories.py at that time, apart from this paragraph.

Story clusters: each article joins the story of its near-duplicates or opens a new one.

The index lives in Redis so every worker on every machine shares it, and one Lua script per
article does the whole check-and-insert atomically: two workers holding two copies of one story at
the same instant run one after the other, so the second joins the story the first opened.

Layout (all under the `{<prefix>:stories}` hash tag, so the script's keys share one Cluster slot):
time is cut into slots (`window / slots_per_window` long); each slot has its own small hashes, and
each hash expires as a whole once no lookup can reach its slot, so nothing expires per member.
- `m:<slot>:<bucket>`: a MinHash bin entry (4 bytes) -> story number; 16 per article.
- `a:<slot>:<bucket>`: an article key digest (8 bytes) -> story number: a retried article finds
  the story it joined and is not counted twice.
- `s:<slot>:<bucket>`: story number -> its article count, written to the slot of its latest
  article. Its bucket depends on the story the script finds, so the script derives that key
  name itself (same hash tag, so it is on the same Cluster slot as the declared keys).
Buckets keep each hash small enough for Redis's compact listpack encoding (see DedupeConfig).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import redis

from worker.dedupe.fingerprint import Fingerprint, article_fingerprint
from worker.dedupe.settings import DedupeConfig
from worker.errors import QueueError
from worker.queue.connection import Client
from worker.queue.keys import Keys

_MASK64 = (1 << 64) - 1
# Member and count hashes hold one entry per article or story against 16 bin entries per article.
_SMALL_BUCKETS_DIVISOR = 16

_ASSIGN = """
local S, B = tonumber(ARGV[2]), tonumber(ARGV[3])
local function counts_key(s, story)
  return ARGV[6] .. ARGV[7 + s] .. ':' .. tostring(story % tonumber(ARGV[7]))
end
local function count_of(story)
  for s = 1, S do
    local c = redis.call('HGET', counts_key(s, story), tostring(story))
    if c then return tonumber(c) end
  end
  return 0
end
for s = 1, S do
  local known = redis.call('HGET', KEYS[1 + s], ARGV[1])
  if known then return {tonumber(known), count_of(tonumber(known)), 0} end
end
-- Votes: how many bins point at each story (once per bin, whichever slots hold it).
local votes, best, best_votes = {}, 0, 0
for b = 1, B do
  local field, seen = ARGV[7 + S + b], {}
  for s = 1, S do
    local story = redis.call('HGET', KEYS[1 + S + (s - 1) * B + b], field)
    if story and not seen[story] then
      seen[story] = true
      local v, n = (votes[story] or 0) + 1, tonumber(story)
      votes[story] = v
      if v > best_votes or (v == best_votes and n < best) then best, best_votes = n, v end
    end
  end
end
local story, count, new = best, 0, 0
if B > 0 and best_votes >= tonumber(ARGV[4]) then
  count = count_of(story) + 1
else
  story, count, new = redis.call('INCR', KEYS[1]), 1, 1
end
local ttl, sid = ARGV[5], tostring(story)
redis.call('HSET', KEYS[2], ARGV[1], sid)
redis.call('PEXPIRE', KEYS[2], ttl)
for b = 1, B do
  local key = KEYS[1 + S + b]
  redis.call('HSET', key, ARGV[7 + S + b], sid)
  redis.call('PEXPIRE', key, ttl)
end
local ck = counts_key(1, story)
redis.call('HSET', ck, sid, count)
redis.call('PEXPIRE', ck, ttl)
return {story, count, new}
"""


@dataclass(frozen=True)
class StoryAssignment:
    story_id: str  # "st_<hex>"
    articles: int  # distinct articles (article keys) in the story so far, this one included
    new_story: bool  # this article opened the story


@dataclass(frozen=True)
class ScriptCall:
    keys: list[str]
    args: list[str | bytes | int]


def story_id(number: int) -> str:
    return f"st_{number:08x}"


def story_update_due(articles: int, announced_at: int, every: int | None) -> bool:
    """Whether a story that last alerted (or announced an update) with `announced_at` articles
    has gained `every` more since, so a `story.updated` event is due (never when `every` is None).
    """
    return every is not None and articles - announced_at >= every


def slots_to_search(now: float, config: DedupeConfig) -> list[int]:
    """Slot numbers a lookup at `now` reads, newest (the one written to) first."""
    current = math.floor(now / config.slot_s)
    return [current - back for back in range(config.slots_per_window + 1)]


def slot_ttl_ms(now: float, config: DedupeConfig) -> int:
    """Milliseconds until the current slot's hashes can expire: the slot's end plus the window."""
    slot_end = (math.floor(now / config.slot_s) + 1) * config.slot_s
    return max(1, math.ceil((slot_end + config.window - now) * 1000))


def _mix(value: int) -> int:
    """splitmix64's finaliser: MinHash minima have leading zeros; their bits are spread here."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def bin_entries(fp: Fingerprint, buckets: int) -> list[tuple[int, bytes]]:
    """(bucket, 4-byte field) per non-empty bin; a bin's number is folded into its entry."""
    entries = []
    for number, minimum in sorted(fp.bins.items()):
        mixed = _mix((minimum << 4) | number)
        entries.append(((mixed >> 32) % buckets, (mixed & 0xFFFFFFFF).to_bytes(4, "little")))
    return entries


def member_entry(article_key: str, buckets: int) -> tuple[int, bytes]:
    digest = hashlib.blake2b(article_key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets, digest


def plan_assign(
    article_key: str, fp: Fingerprint, now: float, keys: Keys, config: DedupeConfig
) -> ScriptCall:
    """The keys and arguments of the assign script for one article (pure, so it is tested)."""
    slots = slots_to_search(now, config)
    small = max(1, config.index_buckets // _SMALL_BUCKETS_DIVISOR)
    member_bucket, member_field = member_entry(article_key, small)
    bins = bin_entries(fp, config.index_buckets)
    script_keys = [keys.story_sequence]
    script_keys += [keys.story_members(slot, member_bucket) for slot in slots]
    buckets = [str(bucket) for bucket, _ in bins]
    for slot in slots:
        prefix = keys.story_bins_of_slot(slot)
        script_keys += [prefix + bucket for bucket in buckets]
    args: list[str | bytes | int] = [member_field, len(slots), len(bins)]
    args += [config.min_agreeing_bins, slot_ttl_ms(now, config), keys.story_counts_prefix, small]
    args += [str(slot) for slot in slots]
    args += [field for _, field in bins]
    return ScriptCall(script_keys, args)


class StoryIndex:
    """The shared story registry. `assign` is one Redis round trip; safe from any number of
    workers at once; idempotent per article key (a retry returns the same story, counted once).
    """

    def __init__(self, client: Client, keys: Keys, config: DedupeConfig) -> None:
        self.client, self.keys, self.config = client, keys, config
        self._assign = client.register_script(_ASSIGN)

    def assign(self, article_key: str, text: str, title: str, now: float) -> StoryAssignment:
        """Fingerprint the article's text (its title only helps a text too short alone) and
        place it in a story. `article_key` names the article (its canonical URL key): the same
        key again, even with edited text, gets its first story back without counting twice.
        """
        return self.assign_fingerprint(article_key, article_fingerprint(text, title), now)

    def assign_fingerprint(self, article_key: str, fp: Fingerprint, now: float) -> StoryAssignment:
        call = plan_assign(article_key, fp, now, self.keys, self.config)
        try:
            number, count, new = self._assign(keys=call.keys, args=call.args)
        except redis.RedisError as exc:
            raise QueueError(f"story index: {exc}") from exc
        return StoryAssignment(story_id(int(number)), int(count), bool(int(new)))

    def articles(self, story: str, now: float) -> int:
        """The story's article count now (0 once it has expired): counts sit beside the script's
        other keys, in the newest slot that holds them."""
        number = int(story.removeprefix("st_"), 16)
        small = max(1, self.config.index_buckets // _SMALL_BUCKETS_DIVISOR)
        pipe = self.client.pipeline(transaction=False)
        for slot in slots_to_search(now, self.config):
            pipe.hget(f"{self.keys.story_counts_prefix}{slot}:{number % small}", str(number))
        replies: Any = pipe.execute()
        return next((int(reply) for reply in replies if reply), 0)
