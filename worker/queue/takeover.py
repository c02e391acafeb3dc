"""Taking over the pending entries of dead consumers at once, whatever their idle time.

One script per check, on the stream's slot (the role's leases sit beside the stream): for every
other consumer of the group it decides dead or alive from its lease (dead when expired, or when
proven gone from this machine with the lease score seen), claims a dead one's pending entries
for the caller, and removes a dead consumer once nothing is pending under it. A consumer with no
lease at all (an instance of an older version, or one whose lease record was lost) counts as
dead once it has not touched the stream for a whole lease. Being one script, two live instances
never both take the same dead one's entries.

An items shard under its own hash tag (`queue.partitions`) is in another slot than the leases:
its takeover (`leases_elsewhere`) is given the lease scores read up to a second before instead
(one read shared by every shard, `LeaseReads`). An instance renewing its lease in that second
after it had expired (a stuck one come back) may then lose its entries to the taker: they are
processed again, never lost.

`worker.claim_idle` (XAUTOCLAIM in streams.py) remains the bound for an instance that is alive,
renewing its lease, but stuck on an entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.queue.connection import Client
from worker.queue.liveness import Registry, proven_dead

Entry = tuple[str, dict[str, str]]

# KEYS: stream, the role's lease set. ARGV: group, me, now (ms), room, unknown idle (ms), then
# pairs: name proven dead, the lease score seen. Returns {claimed entries, names found dead}.
_TAKE_OVER = """
local stream, leases = KEYS[1], KEYS[2]
local group, me = ARGV[1], ARGV[2]
local now, room, unknown_idle = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local proven = {}
for i = 6, #ARGV, 2 do proven[ARGV[i]] = tonumber(ARGV[i + 1]) end
local claimed, dead = {}, {}
for _, info in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
  local c = {}
  for i = 1, #info, 2 do c[info[i]] = info[i + 1] end
  local name = c['name']
  if name ~= me then
    local expiry = redis.call('ZSCORE', leases, name)
    local is_dead
    if expiry and proven[name] == tonumber(expiry) then
      is_dead = true
    elseif expiry then
      is_dead = tonumber(expiry) < now
    else
      is_dead = tonumber(c['idle']) > unknown_idle
    end
    if is_dead then
      table.insert(dead, name)
      local pending = tonumber(c['pending'])
      if pending > 0 and room > 0 then
        local ids = {}
        for _, p in ipairs(redis.call('XPENDING', stream, group, '-', '+', room, name)) do
          table.insert(ids, p[1])
        end
        if #ids > 0 then
          for _, e in ipairs(redis.call('XCLAIM', stream, group, me, 0, unpack(ids))) do
            if e then table.insert(claimed, e) end
          end
        end
        room = room - #ids
        pending = pending - #ids
      end
      if pending <= 0 then redis.call('XGROUP', 'DELCONSUMER', stream, group, name) end
    end
  end
end
return {claimed, dead}
"""


def _leases_from_argument(script: str) -> str:
    """The takeover script reading the lease scores from ARGV[6] (JSON: name -> expiry ms)
    instead of the lease set, with the proven pairs after it."""
    swaps = (
        ("local stream, leases = KEYS[1], KEYS[2]", "local stream = KEYS[1]\n"
         "local snapshot = cjson.decode(ARGV[6])"),
        ("for i = 6, #ARGV, 2 do", "for i = 7, #ARGV, 2 do"),
        ("redis.call('ZSCORE', leases, name)", "snapshot[name]"),
    )  # fmt: skip
    for old, new in swaps:
        assert old in script, old
        script = script.replace(old, new)
    return script


_TAKE_OVER_WITH_LEASES = _leases_from_argument(_TAKE_OVER)


def parse_entries(raw: Any) -> list[Entry]:
    """XCLAIM's entries as a script returns them: [id, [field, value, ...]]."""
    entries: list[Entry] = []
    for entry_id, flat in raw:
        if flat:
            fields = {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}
            entries.append((str(entry_id), fields))
    return entries


@dataclass
class LeaseReads:
    """The lease reads a takeover check needs (instances proven gone from this machine, and the
    lease scores for a stream outside the leases' slot), read at most once per `every_s` and
    shared by the checks of every items shard: N shards cost one read, not N."""

    registry: Registry
    every_s: float = 1.0
    _read_at: float = field(default=float("-inf"), init=False)
    _proofs: dict[str, int] = field(default_factory=dict, init=False)
    _scores: dict[str, int] = field(default_factory=dict, init=False)
    _me: str = field(default="", init=False)

    def proofs(self, me: str) -> dict[str, int]:
        self._refresh(me)
        return self._proofs

    def scores(self) -> dict[str, int]:
        self._refresh(self._me)
        return self._scores

    def _refresh(self, me: str) -> None:
        now = time.monotonic()
        if now - self._read_at < self.every_s and me == self._me:
            return
        self._read_at, self._me = now, me
        self._proofs = proven_dead(self.registry, me)
        self._scores = lease_scores(self.registry)


def lease_scores(registry: Registry) -> dict[str, int]:
    reply: Any = registry.client.zrange(registry.leases_key, 0, -1, withscores=True)
    return {str(name): int(score) for name, score in reply}


@dataclass
class DeadTakeover:
    """Claims dead consumers' entries of one stream group; looks at most once per `every_s`."""

    client: Client
    stream: str
    group: str
    registry: Registry
    on_dead: Callable[[list[str]], None] | None = None
    every_s: float = 1.0
    leases_elsewhere: bool = False  # the stream is not in the leases' slot (an items shard)
    shared: LeaseReads | None = None  # lease reads shared with other shards' takeovers
    _next_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        script = _TAKE_OVER_WITH_LEASES if self.leases_elsewhere else _TAKE_OVER
        self._script = self.client.register_script(script)

    def claim(self, me: str, count: int) -> list[Entry]:
        now = time.time()
        if now < self._next_at:
            return []
        self._next_at = now + self.every_s
        proofs = self.shared.proofs(me) if self.shared else proven_dead(self.registry, me)
        return self.claim_with_proofs(me, count, proofs)

    def claim_with_proofs(self, me: str, count: int, proofs: dict[str, int]) -> list[Entry]:
        """The takeover, given the instances proven gone from this machine (name -> the lease
        score seen when proven: void if renewed since)."""
        args: list[Any] = [self.group, me, int(time.time() * 1000), count]
        args.append(int(self.registry.lease_s * 1000))
        keys = [self.stream, self.registry.leases_key]
        if self.leases_elsewhere:
            keys = [self.stream]
            scores = self.shared.scores() if self.shared else lease_scores(self.registry)
            args.append(json.dumps(scores))
        for name, score in proofs.items():
            args += [name, score]
        reply: Any = self._script(keys=keys, args=args)
        dead = [str(name) for name in reply[1]]
        if dead and self.on_dead is not None:
            self.on_dead(dead)
        return parse_entries(reply[0])

    def others_pending(self, me: str) -> int:
        """Entries pending under other consumers of the group (work not yet done elsewhere)."""
        summary: Any = self.client.xpending(self.stream, self.group)
        return sum(int(c["pending"]) for c in summary.get("consumers") or [] if c["name"] != me)
