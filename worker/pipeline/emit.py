"""Emitting alerts and story updates onto the alerts stream, each at most once.

Per story, a hash under `{alerts}` records which watchlists alerted on it and at how many
articles; an alert id is emitted once (a marker key), and a `story.updated` event only when the
story has grown by the configured number of articles since that watchlist last heard of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.alerts.envelope import AlertRecord, xadd_record
from worker.queue.connection import Client
from worker.queue.keys import Keys

# An entry carries the webhook body (whose `data` is the alert) and the endpoints to notify:
# the alert's JSON once, not a second copy beside the body.
# KEYS: alerts stream, story hash, then one marker per alert.
# ARGV: window, story articles, then per alert: watchlist id, notify JSON, body.
_EMIT = f"""
local emitted = 0
for i = 3, #KEYS do
  local base = 2 + (i - 3) * 3
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    {xadd_record("KEYS[1]", "ARGV[base + 2]", "ARGV[base + 3]")}
    redis.call('HSETNX', KEYS[2], ARGV[base + 1], ARGV[2])
    emitted = emitted + 1
  end
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return emitted
"""

# KEYS: alerts stream, story hash.
# ARGV: every, articles, then per watchlist: id, notify JSON, body.
_UPDATE = f"""
local sent = 0
for i = 3, #ARGV, 3 do
  local announced = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if announced > 0 and tonumber(ARGV[2]) - announced >= tonumber(ARGV[1]) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[2])
    {xadd_record("KEYS[1]", "ARGV[i + 1]", "ARGV[i + 2]")}
    sent = sent + 1
  end
end
return sent
"""


@dataclass(frozen=True)
class PendingAlert:
    watchlist_id: str
    data: dict[str, Any]
    notify: list[str]
    body: str

    def args(self) -> list[Any]:
        return [self.watchlist_id, *AlertRecord(tuple(self.notify), self.body).script_args()]


@dataclass
class AlertEmitter:
    client: Client
    keys: Keys
    window_s: float

    def __post_init__(self) -> None:
        self._emit = self.client.register_script(_EMIT)
        self._update = self.client.register_script(_UPDATE)

    def emit(self, story_id: str, articles: int, alerts: list[PendingAlert]) -> int:
        """Add the alerts not emitted before; atomic, so a retry after a crash adds none twice."""
        if not alerts:
            return 0
        keys = [self.keys.alerts_stream, self.keys.story_watchlists(story_id)]
        args: list[Any] = [int(self.window_s), articles]
        for alert in alerts:
            keys.append(self.keys.alert_marker(alert.data["alert_id"]))
            args += alert.args()
        return int(self._emit(keys=keys, args=args))

    def announced(self, story_id: str) -> dict[str, int]:
        """Watchlist id -> the article count it was last told about, for one story."""
        raw: Any = self.client.hgetall(self.keys.story_watchlists(story_id))
        return {str(k): int(v) for k, v in raw.items()}

    def update(self, story_id: str, articles: int, every: int, events: list[PendingAlert]) -> int:
        """Emit each `story.updated` event whose watchlist is `every` articles behind."""
        if not events:
            return 0
        keys = [self.keys.alerts_stream, self.keys.story_watchlists(story_id)]
        args: list[Any] = [every, articles]
        for event in events:
            args += event.args()
        return int(self._update(keys=keys, args=args))
