"""The alert index: every alert, newest first, kept for `web.alert_retention`, bounded.

The notifiers index each alert they take off the alerts stream (in the same step that takes it),
so the index is whole whichever roles run: the API pages through it, `wirewatch alerts` lists
it, and the alerts stream itself can be trimmed once every group has acked. Each
`alert.created` becomes one hash field (alert id -> JSON) and one member in an ordering set,
plus one in its watchlist's ordering set. Members are `<stream id, zero-padded> <watchlist>
<alert id>` with every score 0, so Redis orders them by the stream id (lexically) and a page is
one ZREVRANGEBYLEX from the last member seen: a cursor never skips or repeats an alert, even when
several share a millisecond. `story.updated` events add the article to the story's record.
Alerts older than the retention, and the oldest beyond `alert_max`, are removed by `trim`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worker.alerts.envelope import AlertRecord
from worker.observability.metrics import METRICS
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.streams import Entry

_TRIM_BATCH = 1000
_RECENT_PAGE = 500

# One page, newest first: KEYS[1] the ordering set, KEYS[2] the alerts hash; ARGV upper and
# lower lexical bounds and the limit. Returns the page's stored JSON texts joined by commas
# (each without its first line, the member) and the last member shown when more follow, else "".
_PAGE = """
local limit = tonumber(ARGV[3])
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, limit + 1)
local shown = math.min(#members, limit)
if shown == 0 then return {'', ''} end
local ids = {}
for i = 1, shown do
    -- '<24-character time> <watchlist> <alert id>': the id follows the space after the
    -- watchlist. Plain finds: the pattern '[^ ]+$' backtracked at every character, and cost
    -- 60% of the script.
    local member = members[i]
    ids[i] = string.sub(member, string.find(member, ' ', 26, true) + 1)
end
local texts = {}
for _, stored in ipairs(redis.call('HMGET', KEYS[2], unpack(ids))) do
    if stored then
        texts[#texts + 1] = string.sub(stored, string.find(stored, '\\n', 1, true) + 1)
    end
end
local last = ''
if #members > limit then last = members[shown] end
return {table.concat(texts, ','), last}
"""


def member_for(entry_id: str, watchlist_id: str, alert_id: str) -> str:
    millis, _, seq = entry_id.partition("-")
    return f"{int(millis):013d}-{int(seq or 0):010d} {watchlist_id} {alert_id}"


def time_bound(epoch_s: float) -> str:
    """The member prefix of the first stream id at or after `epoch_s`."""
    return f"{max(0, int(epoch_s * 1000)):013d}"


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The member a cursor names; None when it is not one of ours."""
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = member.split(" ")
    return member if len(parts) == 3 and len(parts[0]) == 24 else None


@dataclass(frozen=True)
class Page:
    alerts: list[str]  # JSON texts, newest first
    next_cursor: str | None

    def alerts_parsed(self) -> list[dict[str, Any]]:
        return [json.loads(a) for a in self.alerts]

    def to_json(self) -> str:
        return (
            f'{{"alerts":[{",".join(self.alerts)}],"next_cursor":{json.dumps(self.next_cursor)}}}'
        )


class AlertIndex:
    def __init__(
        self,
        client: Client,
        keys: Keys,
        retention_s: float,
        max_alerts: int,
        clock: Any = time.time,
    ) -> None:
        self.client = client
        self.keys = keys
        self.retention_s = retention_s
        self.max_alerts = max_alerts
        self.clock = clock

    # -- feeding -----------------------------------------------------------------------------
    def ingest(self, entries: Sequence[Entry]) -> int:
        """Index these stream entries (idempotent: an alert indexed again replaces itself)."""
        alerts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for entry_id, fields in entries:
            parsed = _parse(entry_id, fields)
            if parsed is None:
                continue
            (alerts if parsed["type"] == "alert.created" else updates).append(parsed)
        known: Any = (
            self.client.hmget(self.keys.web_alerts, [a["alert_id"] for a in alerts])
            if alerts
            else []
        )
        pipe = self.client.pipeline(transaction=False)
        for record, old in zip(alerts, known, strict=True):
            if old:
                self._unlink(pipe, str(old).split("\n", 1)[0])
            self._link(pipe, record)
        for record in [*alerts, *updates]:
            self._note_story(pipe, record)
        pipe.execute()
        for record, old in zip(alerts, known, strict=True):
            if not old:  # counted once, however often the stream hands it over
                METRICS.inc("wirewatch_alerts_total", watchlist=record["watchlist"]["id"])
        return len(alerts)

    def _link(self, pipe: Any, record: dict[str, Any]) -> None:
        member = record.pop("member")
        stored = member + "\n" + json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        pipe.hset(self.keys.web_alerts, record["alert_id"], stored)
        pipe.zadd(self.keys.web_alert_order, {member: 0})
        pipe.zadd(self.keys.web_watchlist_order(record["watchlist"]["id"]), {member: 0})

    def _unlink(self, pipe: Any, member: str) -> None:
        _, watchlist_id, _ = member.split(" ")
        pipe.zrem(self.keys.web_alert_order, member)
        pipe.zrem(self.keys.web_watchlist_order(watchlist_id), member)

    def _note_story(self, pipe: Any, record: dict[str, Any]) -> None:
        story = record.get("story") or {}
        article = record.get("article") or {}
        if not story.get("id") or not article:
            return
        key = self.keys.web_story(story["id"])
        seen = {
            **article,
            "seen_at": record["created_at"],
            "story_articles": story.get("articles"),
            "watchlist": record["watchlist"]["id"],
        }
        pipe.hset(key, article.get("canonical_url") or article.get("url") or "", json.dumps(seen))
        pipe.expire(key, int(self.retention_s))

    # -- bounding ----------------------------------------------------------------------------
    def trim(self) -> int:
        """Drop alerts older than the retention, then the oldest beyond `max_alerts`."""
        cutoff = "(" + time_bound(self.clock() - self.retention_s)
        removed = 0
        while True:
            old: Any = self.client.zrangebylex(
                self.keys.web_alert_order, "-", cutoff, 0, _TRIM_BATCH
            )
            if not old:
                break
            removed += self._remove([str(m) for m in old])
        excess = int(self.client.zcard(self.keys.web_alert_order)) - self.max_alerts
        while excess > 0:
            oldest: Any = self.client.zrange(
                self.keys.web_alert_order, 0, min(excess, _TRIM_BATCH) - 1
            )
            removed += self._remove([str(m) for m in oldest])
            excess -= len(oldest)
        return removed

    def _remove(self, members: list[str]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            self._unlink(pipe, member)
            pipe.hdel(self.keys.web_alerts, member.split(" ")[2])
        pipe.execute()
        return len(members)

    # -- reading -----------------------------------------------------------------------------
    def page(
        self,
        watchlist_id: str | None,
        since: float | None,
        until: float | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """Up to `limit` alerts, newest first, older than the cursor's member."""
        key, upper, lower = page_range(self.keys, watchlist_id, since, until, cursor)
        members: Any = self.client.zrevrangebylex(key, upper, lower, 0, limit + 1)
        shown = [str(m) for m in members[:limit]]
        alerts = self.raw_many([m.split(" ")[2] for m in shown])
        return _page(alerts, shown, len(members) > limit)

    def recent(self, since: float, watchlist_id: str | None = None) -> list[dict[str, Any]]:
        """Every alert indexed since `since` (unix seconds), newest first, as one flat dict
        each: its type, time, watchlist, article title and URL, story, and the webhook data."""
        found: list[dict[str, Any]] = []
        member: str | None = None
        while True:
            page = self.page(watchlist_id, since, None, member, _RECENT_PAGE)
            found += [_flat(record) for record in page.alerts_parsed()]
            if page.next_cursor is None:
                return found
            member = decode_cursor(page.next_cursor)

    def raw_many(self, alert_ids: list[str]) -> list[str]:
        """The alerts' JSON texts as stored (a page is spliced, never parsed and re-encoded)."""
        if not alert_ids:
            return []
        raw: Any = self.client.hmget(self.keys.web_alerts, alert_ids)
        return [str(r).split("\n", 1)[1] for r in raw if r]

    def get(self, alert_id: str) -> dict[str, Any] | None:
        raw: Any = self.client.hget(self.keys.web_alerts, alert_id)
        return json.loads(str(raw).split("\n", 1)[1]) if raw else None

    def story(self, story_id: str) -> list[dict[str, Any]]:
        raw: Any = self.client.hgetall(self.keys.web_story(story_id))
        return sorted((json.loads(v) for v in raw.values()), key=lambda a: a["seen_at"])


def page_range(
    keys: Keys,
    watchlist_id: str | None,
    since: float | None,
    until: float | None,
    cursor: str | None,
) -> tuple[str, str, str]:
    """The ordering set to read and its (upper, lower) lexical bounds, newest first."""
    key = keys.web_alert_order
    if watchlist_id:
        key = keys.web_watchlist_order(watchlist_id)
    upper = "+"
    if until is not None:
        upper = "(" + time_bound(until + 0.001)
    if cursor is not None and (upper == "+" or cursor < upper[1:]):
        upper = "(" + cursor
    lower = "[" + time_bound(since) if since is not None else "-"
    return key, upper, lower


class AsyncPageReader:
    """Pages of the index as the API answers them, on an asyncio Redis client that does not
    decode replies: one round trip a page. The script (`_PAGE`) picks the members and splices
    the stored JSON texts, so this process neither sends 50 hash fields nor decodes and
    re-encodes some 75 KB of JSON per page (GET /api/v1/alerts is the API's busiest call)."""

    def __init__(self, aclient: Any, keys: Keys) -> None:
        self.keys = keys
        self._page = aclient.register_script(_PAGE)

    async def page_json(
        self,
        watchlist_id: str | None,
        since: float | None,
        until: float | None,
        cursor: str | None,
        limit: int,
    ) -> bytes:
        """`AlertIndex.page(...).to_json()`, encoded."""
        key, upper, lower = page_range(self.keys, watchlist_id, since, until, cursor)
        joined, last = await self._page(
            keys=[key, self.keys.web_alerts], args=[upper, lower, limit]
        )
        next_cursor = json.dumps(encode_cursor(last.decode()) if last else None).encode()
        body: bytes = b'{"alerts":[' + joined + b'],"next_cursor":' + next_cursor + b"}"
        return body


def _page(alerts: list[str], shown: list[str], more: bool) -> Page:
    return Page(alerts, encode_cursor(shown[-1]) if more and shown else None)


def _parse(entry_id: str, fields: dict[str, str]) -> dict[str, Any] | None:
    """An indexable record from a stream entry; None for other events or a malformed one."""
    try:
        entry = AlertRecord.from_fields(fields)
        envelope = entry.envelope()
        data = envelope["data"]
        kind = envelope.get("type")
        if kind not in ("alert.created", "story.updated"):
            return None
        record = {
            **data,
            "type": kind,
            "created_at": envelope["timestamp"],
            "notify": list(entry.notify),
        }
        record["member"] = member_for(entry_id, data["watchlist"]["id"], data["alert_id"])
    except (KeyError, ValueError, TypeError):
        return None
    return record


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """One indexed alert as `wirewatch alerts` prints it (its full record under `data`)."""
    article = record.get("article") or {}
    return {
        "id": record.get("alert_id", ""),
        "type": record.get("type", ""),
        "timestamp": record.get("created_at", ""),
        "watchlist": (record.get("watchlist") or {}).get("id", ""),
        "title": article.get("title") or "",
        "url": article.get("url") or "",
        "story": (record.get("story") or {}).get("id", ""),
        "data": record,
    }
