"""Story clusters: each article joins the one story whose representative it resembles, or opens one.

What one story is: docs/stories.md. How: candidate stories come from an LSH index of signature
bands (worker/dedupe/signature.py); each candidate is then confirmed against its representative,
the signature of the article that opened it, on 128 values: estimated Jaccard similarity at least
`similarity` and containment at least `containment`. Of the confirmed, the most similar wins
(ties: the oldest story). There are no votes pooled over members, so a story is never joined
through a chain of members the new article does not itself resemble.

The index lives in Redis so every worker on every machine shares it, and one Lua script per
article does the whole check-and-insert atomically: two workers holding two copies of one story at
the same instant run one after the other, so the second joins the story the first opened.

Layout (all under the `{<prefix>:stories}` hash tag, so the script's keys share one Cluster slot):
time is cut into slots (`window / slots_per_window` long); each slot has its own small hashes, and
each hash expires as a whole once no lookup can reach its slot, so nothing expires per member.
- `b:<slot>:<bucket>`: a band entry (2 bytes) -> story number; 24 per story per slot it is active
  in (written when the story opens, and by the first article that joins it in a later slot).
- `r:<slot>:<bucket>`: story number -> its representative (128 bytes, in two 64-byte halves: the
  second under `<number>+`), beside its band entries.
- `a:<slot>:<bucket>`: an article key digest (8 bytes) -> story number: a retried article finds
  the story it joined and is not counted twice, whatever its text is the second time.
- `s:<slot>:<bucket>`: story number -> its article count, written to the slot of its latest
  article.
- `m:<slot>:<bucket>`: the previous design's MinHash bin entries (16 per article), no longer
  written. Read only until `v2` (when this design first ran) is a window old, so stories an
  upgraded install already alerted on keep their copies: a copy that matches no representative
  joins a legacy story by the old vote, and becomes that story's representative.
The script builds the key names itself from the index prefix (one hash tag, so on the same
Cluster slot as the keys it declares). Buckets keep each hash small
enough for Redis's compact listpack encoding (see DedupeConfig).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import redis

from worker.dedupe.fingerprint import Fingerprint
from worker.dedupe.settings import DedupeConfig
from worker.dedupe.signature import Signature, article_signature, band_entries, representative
from worker.errors import QueueError
from worker.queue.connection import Client
from worker.queue.keys import Keys

_MASK64 = (1 << 64) - 1
# Member, count and representative hashes hold one entry per article or story against 24 band
# entries per story (16 bin entries per article in the previous design).
_SMALL_BUCKETS_DIVISOR = 16

# KEYS: the sequence, the v2 marker, this article's member hash in the current slot.
# ARGV: 1 member field, 2 S (slots, newest first), 3 NB (bands), 4 L (legacy bins), 5 ttl ms,
# 6 index prefix (`{<prefix>:stories}:`), 7 small buckets, 8 member bucket, 9 now ms,
# 10 legacy horizon ms, 11 min similarity, 12 min containment, 13 legacy min agreeing bins,
# 14 representative, then S slot names, NB (bucket, field) band pairs, L (bucket, field) bin pairs.
# Key names are built here from the prefix (one hash tag, so one Cluster slot): sending ~400 full
# names cost the client more than the whole script costs Redis.
_ASSIGN = """
local S, NB, L = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ROOT, SMALL, SLOT0 = ARGV[6], tonumber(ARGV[7]), 14
local MIN_J, MIN_C, mine = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[14]
local function key(kind, s, bucket)
  return ROOT .. kind .. ':' .. ARGV[SLOT0 + s] .. ':' .. bucket
end
local function count_of(story)
  for s = 1, S do
    local c = redis.call('HGET', key('s', s, story % SMALL), tostring(story))
    if c then return tonumber(c) end
  end
  return 0
end
local function representative_of(story)
  local sid = tostring(story)
  for s = 1, S do
    local v = redis.call('HMGET', key('r', s, story % SMALL), sid, sid .. '+')
    if v[1] and v[2] then return v[1] .. v[2], s end
  end
  return nil, nil
end
for s = 1, S do
  local known = redis.call('HGET', key('a', s, ARGV[8]), ARGV[1])
  if known then return {tonumber(known), count_of(tonumber(known)), 0} end
end
-- Confirmation: b-bit MinHash agreement with the story's representative (signature.estimate).
local K, my_n, my_v = #mine - 2, 0, {}
if K > 0 then
  my_n = string.byte(mine, 1) * 256 + string.byte(mine, 2)
  my_v = {string.byte(mine, 3, K + 2)}
end
local function confirmed(rep)
  if K <= 0 or not rep or #rep ~= #mine then return nil end
  local v, agree = {string.byte(rep, 3, K + 2)}, 0
  for i = 1, K do
    if v[i] == my_v[i] then agree = agree + 1 end
  end
  local j = math.max(0, (agree / K - 1 / 256) / (1 - 1 / 256))
  local n = string.byte(rep, 1) * 256 + string.byte(rep, 2)
  local c = j * (my_n + n) / ((1 + j) * math.max(1, math.min(my_n, n)))
  if j >= MIN_J and c >= MIN_C then return j end
  return nil
end
local best, best_j, tried = nil, -1, {}
local function consider(story)
  if tried[story] then return end
  tried[story] = true
  local j = confirmed(representative_of(story))
  if j and (j > best_j or (j == best_j and story < best)) then best, best_j = story, j end
end
local BANDS0 = SLOT0 + S
for b = 1, NB do
  local bucket, field = ARGV[BANDS0 + 2 * b - 1], ARGV[BANDS0 + 2 * b]
  for s = 1, S do
    local story = redis.call('HGET', key('b', s, bucket), field)
    if story then consider(tonumber(story)) end
  end
end
-- Upgrade window: stories of the previous design have no representative; their bins still vote.
local now = tonumber(ARGV[9])
local since = tonumber(redis.call('GET', KEYS[2]) or now)
if not best and L > 0 and now < since + tonumber(ARGV[10]) then
  local votes, top, top_votes, BINS0 = {}, 0, 0, BANDS0 + 2 * NB
  for b = 1, L do
    local bucket, field, seen = ARGV[BINS0 + 2 * b - 1], ARGV[BINS0 + 2 * b], {}
    for s = 1, S do
      local story = redis.call('HGET', key('m', s, bucket), field)
      if story and not seen[story] then
        seen[story] = true
        local v, n = (votes[story] or 0) + 1, tonumber(story)
        votes[story] = v
        if v > top_votes or (v == top_votes and n < top) then top, top_votes = n, v end
      end
    end
  end
  if top_votes >= tonumber(ARGV[13]) then
    if representative_of(top) then consider(top) else best = top end
  end
end
redis.call('SET', KEYS[2], tostring(now), 'NX')
local story, count, new = best, 0, 0
if story then
  count = count_of(story) + 1
else
  story, count, new = redis.call('INCR', KEYS[1]), 1, 1
end
local ttl, sid = ARGV[5], tostring(story)
redis.call('HSET', KEYS[3], ARGV[1], sid)
redis.call('PEXPIRE', KEYS[3], ttl)
local ck = key('s', 1, story % SMALL)
redis.call('HSET', ck, sid, count)
redis.call('PEXPIRE', ck, ttl)
if K > 0 then
  local rep, at = representative_of(story)
  if at ~= 1 then
    -- New, adopted, or active again in a new slot: representative and bands into this slot.
    local rk, keep = key('r', 1, story % SMALL), rep or mine
    redis.call('HSET', rk, sid, string.sub(keep, 1, 64), sid .. '+', string.sub(keep, 65))
    redis.call('PEXPIRE', rk, ttl)
    for b = 1, NB do
      local bk = key('b', 1, ARGV[BANDS0 + 2 * b - 1])
      redis.call('HSETNX', bk, ARGV[BANDS0 + 2 * b], sid)
      redis.call('PEXPIRE', bk, ttl)
    end
  end
end
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
    article_key: str, sig: Signature, now: float, keys: Keys, config: DedupeConfig
) -> ScriptCall:
    """The keys and arguments of the assign script for one article (pure, so it is tested)."""
    slots = slots_to_search(now, config)
    small = max(1, config.index_buckets // _SMALL_BUCKETS_DIVISOR)
    member_bucket, member_field = member_entry(article_key, small)
    bands = band_entries(sig, config.index_buckets)
    legacy = bin_entries(sig.legacy, config.index_buckets)
    script_keys = [keys.story_sequence, keys.story_design_since]
    script_keys.append(keys.story_members(slots[0], member_bucket))
    args: list[str | bytes | int] = [member_field, len(slots), len(bands), len(legacy)]
    args += [slot_ttl_ms(now, config), keys.story_index_prefix, small, member_bucket]
    args += [round(now * 1000), math.ceil((config.window + config.slot_s) * 1000)]
    args += [repr(config.similarity), repr(config.containment), config.min_agreeing_bins]
    args += [representative(sig)]
    args += [str(slot) for slot in slots]
    for bucket, field in (*bands, *legacy):
        args += [bucket, field]
    return ScriptCall(script_keys, args)


class StoryIndex:
    """The shared story registry. `assign` is one Redis round trip; safe from any number of
    workers at once; idempotent per article key (a retry returns the same story, counted once).
    """

    def __init__(self, client: Client, keys: Keys, config: DedupeConfig) -> None:
        self.client, self.keys, self.config = client, keys, config
        self._assign = client.register_script(_ASSIGN)

    def assign(self, article_key: str, text: str, title: str, now: float) -> StoryAssignment:
        """Sign the article's text (its title only helps a text too short alone) and place it
        in a story. `article_key` names the article (its canonical URL key): the same key
        again, even with edited text, gets its first story back without counting twice.
        """
        return self.assign_signature(article_key, article_signature(text, title), now)

    def assign_signature(self, article_key: str, sig: Signature, now: float) -> StoryAssignment:
        call = plan_assign(article_key, sig, now, self.keys, self.config)
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
