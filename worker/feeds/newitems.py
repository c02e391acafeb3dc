"""What a poll may queue: at most `max_new_items` new entries, newest first, each at most
`max_item_bytes` of JSON; and which entries count as seen under a former identity.

A 100,000-item feed would otherwise queue every entry in one poll and hold the queue for minutes,
and one entry of 87 MB of text would be queued whole (Redis refuses, or workers choke). Entries
left over are neither queued nor marked seen: the poller parses the feed whole again next time
(it keeps no body hash, validators or known items for it), so they come on later polls, newest
first each time. Longer text is trimmed and the trim recorded on the item (`trimmed`: field ->
its length in characters before).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

from worker.feeds.parse import ParsedEntry
from worker.queue.keys import short_hash
from worker.records import FeedItem

DEFAULT_MAX_NEW_ITEMS = 200
DEFAULT_MAX_ITEM_BYTES = 1_000_000
# Fields trimmed, in this order, until the item fits: the long texts first, the link last.
_TRIMMABLE = ("content", "summary", "title", "author", "link")
_TRIM_RECORD_ROOM = 120  # bytes of JSON the `trimmed` record itself takes, at most


@dataclass(frozen=True)
class Selection:
    queue: list[int]  # indexes of the new items to queue, newest first
    deferred: int  # new items left for later polls


def newest_first(items: Sequence[FeedItem], new: Sequence[int], limit: int) -> Selection:
    """Of the new items (indexes into `items`), the `limit` newest by publication date; undated
    ones after dated ones, and ties in document order (feeds list newest first)."""
    ordered = sorted(new, key=lambda i: items[i].published_at, reverse=True)
    return Selection(ordered[:limit], max(0, len(ordered) - limit))


def former_members(entries: Sequence[ParsedEntry]) -> list[str]:
    """Per entry, the entry hash of its identity under the former rule, or "" (guids.py)."""
    return [short_hash(e.former_id) if e.former_id else "" for e in entries]


def fit_item(item: FeedItem, max_bytes: int) -> FeedItem:
    """`item`, or a copy whose long fields are trimmed so that its JSON takes at most
    `max_bytes` (UTF-8), with `trimmed` saying which fields were and how long they were."""
    excess = _json_bytes(item.to_json()) - max_bytes
    if excess <= 0:
        return item
    excess += _TRIM_RECORD_ROOM
    changes: dict[str, object] = {}
    trimmed: dict[str, int] = {}
    for name in _TRIMMABLE:
        value: str = getattr(item, name)
        if excess <= 0:
            break
        if not value:
            continue
        before = _json_bytes(json.dumps(value, ensure_ascii=False))
        kept = _prefix_within(value, max(0, before - excess))
        excess -= before - _json_bytes(json.dumps(kept, ensure_ascii=False))
        changes[name], trimmed[name] = kept, len(value)
    if excess > 0 and item.tags:
        changes["tags"], trimmed["tags"] = [], len(item.tags)
    return dataclasses.replace(item, **changes, trimmed=trimmed)  # type: ignore[arg-type]


def _json_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _prefix_within(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON string (quotes included) takes at most `budget`
    bytes. Every character takes at least one byte, so no prefix longer than `budget` fits."""
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if _json_bytes(json.dumps(text[:middle], ensure_ascii=False)) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]
