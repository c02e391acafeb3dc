"""Heartbeat leases of role instances: which role processes are alive, and which are dead.

Every role process holds a lease in Redis, renewed by a thread every fifth of its length: per
role, a sorted set (instance name -> lease expiry in ms) and a record per instance (host, pid,
process start time, lease, last beat). An instance is dead once its lease has expired, or at
once when its record names a process on this very machine that no longer runs (a SIGKILLed child
of `wirewatch run`, seen by the next instance on the machine: no need to wait out its lease).
A graceful stop hands the lease back, so its remaining work is taken over at once.

Records of instances gone for a day are forgotten; until then `wirewatch status` lists them.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from worker.errors import InstanceNameTaken
from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.queue.processes import machine_identity, process_gone, process_start

INSTANCE_ENV = "WIREWATCH_INSTANCE"  # an instance's name, when not given by --name
RENEWALS_PER_LEASE = 5  # a lease survives four missed renewals (a busy or paused process)
FORGET_GONE_AFTER_S = 86_400.0


@dataclass(frozen=True)
class Instance:
    """One role process as its lease record names it."""

    role: str
    name: str
    host: str
    pid: int
    started: str
    machine: str

    @classmethod
    def this_process(cls, role: str, name: str) -> Instance:
        pid = os.getpid()
        return cls(role, name, socket.gethostname(), pid, process_start(pid), machine_identity())

    def gone_from_this_machine(self) -> bool:
        return self.machine == machine_identity() and process_gone(self.pid, self.started)

    def same_process(self, other: Instance) -> bool:
        return (self.machine, self.pid, self.started) == (other.machine, other.pid, other.started)


@dataclass(frozen=True)
class InstanceState:
    instance: Instance
    lease_s: float
    beat_at: float
    expires_at: float

    def alive(self, now: float) -> bool:
        return self.expires_at > now and not self.instance.gone_from_this_machine()

    def summary(self, now: float) -> dict[str, Any]:
        i = self.instance
        return {
            "name": i.name,
            "host": i.host,
            "pid": i.pid,
            "heartbeat_age_s": round(max(0.0, now - self.beat_at), 1),
            "lease_expires_in_s": round(self.expires_at - now, 1),
        }


class Registry:
    """The leases of one role's instances."""

    def __init__(self, client: Client, keys: Keys, role: str, lease_s: float) -> None:
        self.client = client
        self.role = role
        self.lease_s = lease_s
        self.leases_key = keys.instance_leases(role)
        self.records_key = keys.instance_records(role)

    def beat(self, instance: Instance, now: float | None = None) -> None:
        """Renew (or take) the lease of `instance`, in one transaction (one slot)."""
        now = time.time() if now is None else now
        record = {**asdict(instance), "lease_s": self.lease_s, "beat_at": now}
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.leases_key, {instance.name: int((now + self.lease_s) * 1000)})
        pipe.hset(self.records_key, instance.name, json.dumps(record))
        pipe.execute()

    def leave(self, instance: Instance, now: float | None = None) -> None:
        """Hand the lease back: the instance counts as gone from now (its work is free)."""
        now = time.time() if now is None else now
        self.client.zadd(self.leases_key, {instance.name: int(now * 1000)}, xx=True)

    def holder(self, name: str) -> InstanceState | None:
        """The lease record under `name`, if any."""
        return next((state for state in self.states() if state.instance.name == name), None)

    def states(self) -> list[InstanceState]:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrange(self.leases_key, 0, -1, withscores=True)
        pipe.hgetall(self.records_key)
        leases, records = pipe.execute()
        found = []
        for name, expiry_ms in leases:
            raw = records.get(name)
            if raw:
                found.append(state_of(raw, float(expiry_ms) / 1000))
        return found

    def forget_long_gone(self, now: float) -> None:
        """Drop records of instances gone for a day (a restarted instance with a fresh name
        must not leave one more line in `status` forever)."""
        cutoff_ms = int((now - FORGET_GONE_AFTER_S) * 1000)
        old: Any = self.client.zrangebyscore(self.leases_key, "-inf", cutoff_ms)
        if old:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(self.leases_key, *old)
            pipe.hdel(self.records_key, *old)
            pipe.execute()


def state_of(raw: str, expires_at: float) -> InstanceState:
    fields = json.loads(raw)
    lease_s, beat_at = float(fields.pop("lease_s")), float(fields.pop("beat_at"))
    return InstanceState(Instance(**fields), lease_s, beat_at, expires_at)


def proven_dead(registry: Registry, me: str) -> dict[str, int]:
    """Instances whose process is gone from this machine though their lease still runs: name ->
    the lease score seen (a takeover is void if the name's lease was renewed since: restarted)."""
    dead = {}
    for state in registry.states():
        if state.instance.name != me and state.instance.gone_from_this_machine():
            dead[state.instance.name] = round(state.expires_at * 1000)
    return dead


def wait_for_name(
    registry: Registry, me: Instance, log: Any, poll_s: float = 0.25, clock: Any = time.time
) -> None:
    """Return once no other live process holds `me.name`'s lease. A holder that stopped beating
    (crashed elsewhere, restarted under the same name) is waited out, at most one lease; one
    still renewing it is another live process under this name: refused."""
    held = registry.holder(me.name)
    if held is None or held.instance.same_process(me) or not held.alive(clock()):
        return
    log.warning(
        "instance_name_held", instance=me.name, host=held.instance.host, wait_s=held.lease_s
    )
    deadline = clock() + held.lease_s + 1.0
    while clock() < deadline:
        time.sleep(poll_s)
        current = registry.holder(me.name)
        if current is None or not current.alive(clock()):
            return
        if current.beat_at > held.beat_at:
            break  # renewed meanwhile: its process is alive
    raise InstanceNameTaken(
        f"instance name {me.name!r} is held by a live process (host {held.instance.host}, pid "
        f"{held.instance.pid}); give each process its own --name or WIREWATCH_INSTANCE"
    )


class Heartbeat:
    """Renews one instance's lease in a thread until closed; closing hands the lease back."""

    def __init__(self, registry: Registry, instance: Instance, log: Any) -> None:
        self.registry = registry
        self.instance = instance
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        wait_for_name(self.registry, self.instance, self.log)
        self.registry.beat(self.instance)  # before any read: a live instance is never "unknown"
        self.registry.forget_long_gone(time.time())
        self._thread.start()
        return self

    def _run(self) -> None:
        every = self.registry.lease_s / RENEWALS_PER_LEASE
        while not self._stop.wait(every):
            try:
                self.registry.beat(self.instance)
            except redis.RedisError as exc:  # Redis restarting: the next beat tries again
                self.log.warning("heartbeat_failed", instance=self.instance.name, error=str(exc))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            self.registry.leave(self.instance)
        except redis.RedisError as exc:  # the lease then simply runs out
            self.log.warning("heartbeat_leave_failed", instance=self.instance.name, error=str(exc))
