"""Faults on a real Redis Cluster: role processes and a master SIGKILLed mid-run.

The test starts its own cluster (3 masters, 3 replicas on loopback, tests/support/cluster.py),
whatever REDIS_URL says, because it kills one of its masters. 2 schedulers, 3 workers and
2 notifiers (the real CLI, each with a stable --name) work through 48 articles behind slow
pages; once deliveries flow, one instance of each role and the master of the alerts slot are
SIGKILLed, and the master's replica takes over. Every article must still be alerted, and every
alert arrive under exactly one webhook-id. A webhook-id delivered more than once (a request
whose settlement the failover lost, or one in flight in a killed notifier) is counted and
printed, never hidden.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import key_slot

from tests.integration.test_recovery import mount_slow_nato_site
from tests.support.cli import cli_env, write_config
from tests.support.cluster import LocalCluster
from tests.support.httpserver import LocalServer
from tests.support.roles import wait_until
from tests.support.site import Receiver
from worker.queue.connection import open_client
from worker.queue.keys import ALERTS_GROUP, ITEMS_GROUP, Keys

FEEDS, PER_FEED = 2, 24
ROLES = {"scheduler": 2, "worker": 3, "notifier": 2}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path / "cluster").start()
    try:
        yield local
    finally:
        local.stop()


def start_role(role: str, name: str, config: Path, url: str, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli", role, "--name", name, "--config", str(config)],
            env=cli_env(url),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    finally:
        log.close()  # the child holds its own copy


def master_of(cluster: LocalCluster, key: str) -> int:
    slot = key_slot(key.encode())
    for line in cluster._known(cluster.ports[0]):
        parts = line.split()
        if "master" not in parts[2] or "fail" in parts[2]:
            continue
        for spec in parts[8:]:
            first, _, last = spec.partition("-")
            if first.isdigit() and int(first) <= slot <= int(last or first):
                return int(parts[1].split("@")[0].rsplit(":", 1)[1])
    raise AssertionError(f"no master serves slot {slot}")


def drained(client: redis.Redis, keys: Keys) -> bool:
    try:
        items = client.xpending(keys.items_stream, ITEMS_GROUP)["pending"]
        alerts = client.xpending(keys.alerts_stream, ALERTS_GROUP)["pending"]
        return items == 0 and alerts == 0 and client.hlen(keys.deliveries) == 0
    except redis.RedisError:
        return False


@pytest.mark.timeout(420)
def test_killing_one_of_each_role_and_a_master_loses_no_alert(
    tmp_path: Path, server: LocalServer, cluster: LocalCluster, prefix: str
) -> None:
    feeds = [
        mount_slow_nato_site(server, PER_FEED, delay_s=0.3, path=f"/f{i}") for i in range(FEEDS)
    ]
    receiver = Receiver()
    hook = server.route("/hook", receiver)
    config = write_config(
        tmp_path,
        prefix,
        feeds,
        hook,
        watchlists=[{"id": "nato", "query": "NATO", "notify": ["hook"]}],
        scheduler={"host_min_spacing": "0s", "host_max_concurrent": 8},
        worker={"concurrency": 2, "instance_lease": "5s"},
    )
    keys = Keys(prefix)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = {
        f"{role}-{n}": start_role(role, f"{role}-{n}", config, cluster.url, logs)
        for role, count in ROLES.items()
        for n in range(count)
    }
    client = open_client(cluster.url)
    try:
        assert wait_until(lambda: len(receiver.received) >= 10, timeout=120), "deliveries flow"
        master = master_of(cluster, keys.alerts_stream)
        killed_at = time.monotonic()
        for name in ("scheduler-0", "worker-0", "notifier-0"):
            processes[name].send_signal(signal.SIGKILL)
        cluster.kill(master)
        delivered_at_kill = len(receiver.received)

        def all_alerted() -> bool:
            alerted = {json.loads(r.body)["data"]["alert_id"] for r in receiver.received}
            return len(alerted) == FEEDS * PER_FEED and drained(client, keys)

        assert wait_until(all_alerted, timeout=240), _tail_logs(logs)
        recovered_s = time.monotonic() - killed_at
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            process.wait(timeout=60)
        client.close()

    ids = [r.headers["webhook-id"] for r in receiver.received]
    alert_of = {}
    for request in receiver.received:
        alert_id = json.loads(request.body)["data"]["alert_id"]
        assert alert_of.setdefault(request.headers["webhook-id"], alert_id) == alert_id
    assert len(set(alert_of.values())) == FEEDS * PER_FEED, "every article alerted"
    assert len(alert_of) == FEEDS * PER_FEED, "every alert under exactly one webhook-id"
    repeated = sum(n - 1 for n in Counter(ids).values())
    print(
        f"cluster failover: {delivered_at_kill} delivered before the kills, all"
        f" {FEEDS * PER_FEED} alerted {recovered_s:.1f}s after them; repeated deliveries of"
        f" one webhook-id: {repeated}"
    )


def _tail_logs(logs: Path) -> str:
    return "\n".join(
        f"== {path.name}\n{path.read_text(errors='replace')[-1500:]}"
        for path in sorted(logs.glob("*.log"))
    )
