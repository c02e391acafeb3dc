"""Emitting alerts onto the alerts stream, each alert id at most once within the dedupe window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.queue.connection import Client
from worker.queue.keys import Keys

_EMIT = """
local emitted = 0
for i = 2, #KEYS do
  local base = (i - 2) * 3
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    redis.call('XADD', KEYS[1], '*', 'alert', ARGV[base + 2], 'notify', ARGV[base + 3],
               'body', ARGV[base + 4])
    emitted = emitted + 1
  end
end
return emitted
"""


@dataclass(frozen=True)
class PendingAlert:
    data: dict[str, Any]
    notify: list[str]
    body: str


@dataclass
class AlertEmitter:
    client: Client
    keys: Keys
    window_s: float

    def __post_init__(self) -> None:
        self._emit = self.client.register_script(_EMIT)

    def emit(self, alerts: list[PendingAlert]) -> int:
        """Add the alerts not emitted before; atomic, so a retry after a crash adds none twice."""
        if not alerts:
            return 0
        keys = [self.keys.alerts_stream]
        args: list[Any] = [int(self.window_s)]
        for alert in alerts:
            keys.append(self.keys.alert_marker(alert.data["alert_id"]))
            args += [
                json.dumps(alert.data, ensure_ascii=False),
                json.dumps(alert.notify),
                alert.body,
            ]
        return int(self._emit(keys=keys, args=args))
