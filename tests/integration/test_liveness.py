"""Heartbeat leases and the takeover of dead instances' work, against a real Redis.

Consumers are real StreamConsumers; "dead" instances are lease records whose lease expired, or
records naming a process of this machine that has exited (a real one, started and reaped here).
`claim_idle` is an hour throughout: anything taken over here was taken over by liveness alone.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time

import pytest
import redis

from worker.alerts.store import DeliveryStore, Target
from worker.errors import InstanceNameTaken
from worker.ops.status import instances_status
from worker.queue.keys import Keys
from worker.queue.liveness import Heartbeat, Instance, Registry, proven_dead
from worker.queue.streams import StreamConsumer
from worker.queue.takeover import DeadTakeover

GROUP = "g"
LEASE_S = 10.0
AN_HOUR_MS = 3_600_000


class Log:
    def warning(self, event: str, **fields: object) -> None:
        raise AssertionError(f"unexpected warning {event} {fields}")


def registry(client: redis.Redis, keys: Keys) -> Registry:
    return Registry(client, keys, "worker", LEASE_S)


def consumer(client: redis.Redis, keys: Keys, name: str) -> StreamConsumer:
    takeover = DeadTakeover(client, keys.items_stream, GROUP, registry(client, keys), every_s=0)
    c = StreamConsumer(
        client,
        keys.items_stream,
        GROUP,
        name,
        keys.items_dead,
        claim_idle_ms=AN_HOUR_MS,
        takeover=takeover,
    )
    c.ensure_group()
    return c


def exited_pid() -> int:
    """The pid of a process of this machine that ran and has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def instance(name: str, pid: int | None = None) -> Instance:
    me = Instance.this_process("worker", name)
    if pid is None:
        return me
    return Instance("worker", name, me.host, pid, "", me.machine)


def queue(client: redis.Redis, keys: Keys, count: int) -> None:
    for n in range(count):
        client.xadd(keys.items_stream, {"n": str(n)})


def numbers(entries: list[tuple[str, dict[str, str]]]) -> list[str]:
    return [fields["n"] for _, fields in entries]


def consumers_of(client: redis.Redis, keys: Keys) -> set[str]:
    return {c["name"] for c in client.xinfo_consumers(keys.items_stream, GROUP)}


def test_a_dead_instances_entries_are_taken_over_at_once_when_its_lease_runs_out(
    client: redis.Redis, keys: Keys
) -> None:
    reg = registry(client, keys)
    dead = consumer(client, keys, "w-dead")
    reg.beat(instance("w-dead"), now=time.time() - LEASE_S - 1)  # its last beat: a lease ago
    queue(client, keys, 3)
    assert numbers(dead.read(10, None)) == ["0", "1", "2"]

    live = consumer(client, keys, "w-live")
    reg.beat(instance("w-live"))
    taken = live.read(10, None)

    assert numbers(taken) == ["0", "1", "2"], "taken over without waiting for claim_idle"
    assert consumers_of(client, keys) == {"w-live"}, "the dead consumer left the group"


def test_a_live_instances_entries_stay_with_it(client: redis.Redis, keys: Keys) -> None:
    reg = registry(client, keys)
    busy = consumer(client, keys, "w-busy")
    reg.beat(instance("w-busy"))  # this very process: alive, lease running
    queue(client, keys, 2)
    busy.read(10, None)

    other = consumer(client, keys, "w-other")
    reg.beat(instance("w-other"))

    assert other.read(10, None) == []
    assert client.xpending(keys.items_stream, GROUP)["consumers"] == [
        {"name": "w-busy", "pending": 2}
    ]


def test_an_exited_process_of_this_machine_is_dead_before_its_lease_ends(
    client: redis.Redis, keys: Keys
) -> None:
    reg = registry(client, keys)
    killed = consumer(client, keys, "w-killed")
    reg.beat(instance("w-killed", pid=exited_pid()))  # lease still valid for ten seconds
    queue(client, keys, 2)
    killed.read(10, None)

    survivor = consumer(client, keys, "w-survivor")
    reg.beat(instance("w-survivor"))

    assert numbers(survivor.read(10, None)) == ["0", "1"]


def test_an_instance_restarted_under_its_name_keeps_its_entries(
    client: redis.Redis, keys: Keys
) -> None:
    """The proof of death names the lease it saw: a lease renewed since (the restarted
    instance, same name, new process) voids it, and the entries stay for their owner."""
    reg = registry(client, keys)
    stable = consumer(client, keys, "host-worker-0")
    reg.beat(instance("host-worker-0", pid=exited_pid()))
    queue(client, keys, 2)
    stable.read(10, None)
    proofs = proven_dead(reg, "w-other")  # another instance finds the process gone ...
    assert set(proofs) == {"host-worker-0"}
    reg.beat(instance("host-worker-0"), now=time.time() + 1)  # ... as the restart renews

    takeover = DeadTakeover(client, keys.items_stream, GROUP, reg, every_s=0)
    assert takeover.claim_with_proofs("w-other", 10, proofs) == []
    restarted = consumer(client, keys, "host-worker-0")
    assert numbers(restarted.read(10, None)) == ["0", "1"], "its own pending entries first"


def test_a_consumer_without_lease_is_dead_once_silent_for_a_lease(
    client: redis.Redis, keys: Keys
) -> None:
    """An instance of an older version holds no lease: its silence decides."""
    legacy = StreamConsumer(client, keys.items_stream, GROUP, "legacy", keys.items_dead)
    legacy.ensure_group()
    queue(client, keys, 1)
    legacy.read(10, None)
    short = Registry(client, keys, "worker", lease_s=0.2)
    newer = StreamConsumer(
        client,
        keys.items_stream,
        GROUP,
        "newer",
        keys.items_dead,
        claim_idle_ms=AN_HOUR_MS,
        takeover=DeadTakeover(client, keys.items_stream, GROUP, short, every_s=0),
    )
    assert newer.read(10, None) == [], "silent for less than a lease: alive"
    time.sleep(0.3)
    assert numbers(newer.read(10, None)) == ["0"]


def test_a_graceful_stop_leaves_the_group_and_hands_its_lease_back(
    client: redis.Redis, keys: Keys
) -> None:
    reg = registry(client, keys)
    beat = Heartbeat(reg, instance("w-stopping"), Log()).start()
    stopping = consumer(client, keys, "w-stopping")
    queue(client, keys, 1)
    [(entry_id, _)] = stopping.read(10, None)
    stopping.ack(entry_id)

    stopping.leave()
    beat.close()

    assert consumers_of(client, keys) == set()
    report = instances_status(client, keys, time.time())["worker"]
    assert report["live"] == []
    assert [i["name"] for i in report["gone"]] == ["w-stopping"]


def test_status_lists_live_instances_with_heartbeat_age_apart_from_gone_ones(
    client: redis.Redis, keys: Keys
) -> None:
    reg = registry(client, keys)
    now = time.time()
    reg.beat(instance("w-live"), now=now - 2)
    reg.beat(instance("w-gone"), now=now - 60)
    reg.beat(instance("w-killed", pid=exited_pid()), now=now - 1)

    report = instances_status(client, keys, now)["worker"]

    assert [(i["name"], i["heartbeat_age_s"]) for i in report["live"]] == [("w-live", 2.0)]
    assert [i["name"] for i in report["gone"]] == ["w-gone", "w-killed"]
    assert report["live"][0]["pid"] == os.getpid()


def test_a_dead_notifiers_leased_delivery_is_due_again_at_once(
    client: redis.Redis, keys: Keys
) -> None:
    dead = DeliveryStore(client, keys)
    dead.track_leases("n-dead")
    now = time.time()
    pipe = client.pipeline(transaction=False)
    dead.take("1-0", "notifiers", "al_1", [Target("hook", False, "{}")], now, pipe)
    dead.take("2-0", "notifiers", "al_2", [Target("hook", False, "{}")], now, pipe)
    pipe.execute()
    assert [i for i, _ in dead.claim("hook", now, 10, lease_s=60)] == ["al_1:hook", "al_2:hook"]
    dead.settle("hook", "al_2:hook")  # one was sent before it died

    live = DeliveryStore(client, keys)
    assert live.claim("hook", now + 1, 10, lease_s=60) == [], "leased for a minute"
    assert live.release_leases("n-dead", now + 1) == 1

    assert [i for i, _ in live.claim("hook", now + 1, 10, lease_s=60)] == ["al_1:hook"]
    assert not client.exists(keys.delivery_leases("n-dead"))


def test_a_lease_taken_over_since_is_not_released(client: redis.Redis, keys: Keys) -> None:
    """A dead notifier's lease that ran out and was leased by another is that one's now."""
    first, second = DeliveryStore(client, keys), DeliveryStore(client, keys)
    first.track_leases("n-first")
    second.track_leases("n-second")
    now = time.time()
    first.take("1-0", "notifiers", "al_1", [Target("hook", False, "{}")], now)
    first.claim("hook", now, 10, lease_s=5)
    assert [i for i, _ in second.claim("hook", now + 6, 10, lease_s=60)] == ["al_1:hook"]

    assert first.release_leases("n-first", now + 7) == 0
    assert second.claim("hook", now + 7, 10, lease_s=60) == [], "still leased by the second"


def test_an_entry_that_failed_is_tried_again_soon_not_after_claim_idle(
    client: redis.Redis, keys: Keys
) -> None:
    """A Redis failover or a site's hiccup fails an item: the live consumer tries it again
    after `retry_own_after_s`, not after `claim_idle` (an hour here)."""
    c = consumer(client, keys, "w")
    c.retry_own_after_s = 0.2
    queue(client, keys, 2)
    first, second = c.read(10, None)
    c.ack(second[0])
    assert c.fail(first, "Error 111 connecting: Connection refused") is False

    assert c.read(10, None) == [], "not at once"
    time.sleep(0.3)
    assert numbers(c.read(10, None)) == ["0"]


class Warnings:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **fields: object) -> None:
        self.events.append(event)


def elsewhere(name: str) -> Instance:
    """An instance of another machine: only its lease says whether it lives."""
    return dataclasses.replace(instance(name), machine="another-machine", pid=1)


def test_a_second_live_process_under_one_name_is_refused(client: redis.Redis, keys: Keys) -> None:
    reg = Registry(client, keys, "worker", lease_s=1.0)
    other = Heartbeat(reg, elsewhere("w-twice"), Log()).start()  # renews every 0.2 s
    log = Warnings()
    try:
        with pytest.raises(InstanceNameTaken, match="w-twice"):
            Heartbeat(reg, instance("w-twice"), log).start()
    finally:
        other.close()
    assert log.events == ["instance_name_held"]


def test_a_name_whose_holder_stopped_beating_is_taken_once_its_lease_runs_out(
    client: redis.Redis, keys: Keys
) -> None:
    reg = Registry(client, keys, "worker", lease_s=1.0)
    reg.beat(elsewhere("w-restarted"))  # crashed on another machine, its lease still runs
    beat = Heartbeat(reg, instance("w-restarted"), Warnings()).start()
    try:
        holder = reg.holder("w-restarted")
        assert holder is not None and holder.instance.same_process(instance("w-restarted"))
    finally:
        beat.close()
