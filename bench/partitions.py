"""Where a Redis Cluster's commands go with 1 and with 16 items partitions (`queue.partitions`).

A local cluster of 3 masters and 3 replicas (tests/support/cluster.py; or `--cluster URL`), a
local news site of F feeds x E distinct NATO articles and a webhook receiver; for each partition
count, two real `wirewatch run --once` (scheduler, worker, notifier in one process, as a user
runs it), each under a key prefix of its own. Measured on every master in the first: the
commands it served and the time it spent in scripts (INFO commandstats, before and after); in
the second, through MONITOR, which hash tag each of our commands named (commands run inside
scripts counted too): the busiest slot is the hot spot. The baseline is the run with 1
partition. MONITOR slows the servers, so the second run's times are not used. First, the cost of
an idle worker polling its shards (commands per second over 10 s, its own embedded server and
the cluster).

Usage: .venv/bin/python bench/partitions.py [--feeds 32] [--per-feed 8] [--counts 1,16]
       [--idle-only] [--cluster URL]
Prints the tables and ends with one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.test_recovery import mount_slow_nato_site  # noqa: E402
from tests.support.cli import run_cli, write_config  # noqa: E402
from tests.support.cluster import LocalCluster, stop_started_in  # noqa: E402
from tests.support.httpserver import LocalServer  # noqa: E402
from tests.support.site import Receiver  # noqa: E402
from worker.queue.connection import cluster_nodes, open_client  # noqa: E402
from worker.queue.embedded import EmbeddedRedis  # noqa: E402
from worker.queue.keys import ITEMS_GROUP, Keys  # noqa: E402
from worker.queue.liveness import Instance, Registry  # noqa: E402
from worker.queue.partitions import ShardedConsumer  # noqa: E402
from worker.queue.streams import StreamConsumer  # noqa: E402
from worker.queue.takeover import DeadTakeover, LeaseReads  # noqa: E402


def masters_of(url: str) -> list[tuple[str, int]]:
    host, port = cluster_nodes(url)[0]
    with redis.Redis(host=host, port=port, decode_responses=True) as node:
        lines = str(node.execute_command("CLUSTER", "NODES")).splitlines()
    found = []
    for line in lines:
        parts = line.split()
        if "master" in parts[2] and "fail" not in parts[2]:
            address = parts[1].split("@")[0]
            found.append((address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1])))
    return sorted(found, key=lambda a: a[1])


def served(host: str, port: int) -> tuple[int, int]:
    """Commands a node has run (script-inner ones included), and microseconds spent in scripts
    (EVALSHA, EVAL: the inner commands' time included)."""
    with redis.Redis(host=host, port=port, decode_responses=True) as node:
        stats: Any = node.info("commandstats")
    calls = sum(int(v["calls"]) for v in stats.values())
    script_us = sum(int(stats.get(f"cmdstat_{c}", {}).get("usec", 0)) for c in ("evalsha", "eval"))
    return calls, script_us


class Monitor(threading.Thread):
    """Counts, per hash tag under `prefix`, the commands one node runs (MONITOR)."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.tag = re.compile(r"\{" + re.escape(prefix) + r":([^}]*)\}")
        self.by_tag: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        node = redis.Redis(host=self.host, port=self.port, decode_responses=True)
        while True:
            try:
                self._listen(node)
                return
            except redis.TimeoutError:  # a master with nothing to run for a while: watch again
                continue

    def _listen(self, node: redis.Redis) -> None:
        with node.monitor() as feed:
            self.ready.set()
            for event in feed.listen():
                if self.stopping.is_set() and "bench-monitor-stop" in event["command"]:
                    return
                found = self.tag.search(event["command"])
                if found:
                    self.by_tag[found.group(1)] += 1

    def stop(self) -> None:
        self.stopping.set()
        with redis.Redis(host=self.host, port=self.port) as node:
            node.echo("bench-monitor-stop")
        self.join(timeout=30)


def one_run(url: str, partitions: int, feeds: int, per_feed: int, watch: bool) -> dict[str, Any]:
    """One `run --once`; with `watch`, MONITOR on every master attributes commands to tags (it
    slows the servers: the unwatched run gives the per-node commands and script time)."""
    prefix = f"bp{partitions}x{uuid.uuid4().hex[:6]}"
    masters = masters_of(url)
    with LocalServer() as server, tempfile.TemporaryDirectory() as folder:
        urls = [mount_slow_nato_site(server, per_feed, 0.0, f"/f{n}") for n in range(feeds)]
        receiver = Receiver()
        config = write_config(
            Path(folder), prefix, urls, server.route("/hook", receiver),
            watchlists=[{"id": "nato", "query": "NATO", "notify": ["hook"]}],
            scheduler={"host_min_spacing": "0s", "host_max_concurrent": 16},
            queue={"partitions": partitions},
        )  # fmt: skip
        before = [served(h, p) for h, p in masters]
        monitors = [Monitor(h, p, prefix) for h, p in masters] if watch else []
        for monitor in monitors:
            monitor.start()
            monitor.ready.wait(10)
        result = run_cli("run", "--once", "--config", str(config), redis_url=url, timeout=900)
        for monitor in monitors:
            monitor.stop()
        after = [served(h, p) for h, p in masters]
        if result.returncode != 0:
            raise SystemExit(f"run --once failed:\n{result.stderr[-3000:]}")
        alerts = len(receiver.received)
    by_tag: Counter[str] = Counter()
    for monitor in monitors:
        by_tag.update(monitor.by_tag)
    return {
        "partitions": partitions,
        "articles": feeds * per_feed,
        "alerts": alerts,
        "per_node": [b[0] - a[0] for a, b in zip(before, after, strict=True)],
        "script_ms": [round((b[1] - a[1]) / 1000) for a, b in zip(before, after, strict=True)],
        "per_node_ours": [sum(m.by_tag.values()) for m in monitors],
        "by_tag": dict(by_tag.most_common()),
    }


def all_calls(client: Any) -> int:
    """Commands served so far by the one server, or by every master of a cluster."""
    if not isinstance(client, RedisCluster):
        return sum(int(v["calls"]) for v in client.info("commandstats").values())
    total = 0
    for node in client.get_primaries():
        with redis.Redis(host=node.host, port=node.port, decode_responses=True) as conn:
            total += sum(int(v["calls"]) for v in conn.info("commandstats").values())
    return total


def idle_rate(url: str, partitions: int, seconds: float = 10.0) -> float:
    """Commands per second one idle worker's consumer makes (reads with the worker's 1 s
    wait, nothing queued), over `partitions` shards."""
    client = open_client(url)
    keys = Keys("bidle" + uuid.uuid4().hex[:6])
    registry = Registry(client, keys, "worker", 8.0)
    registry.beat(Instance.this_process("worker", "idle"))
    shared = LeaseReads(registry)  # as Runtime.item_consumer: one lease read for all shards

    def shard_consumer(shard: int) -> StreamConsumer:
        stream = keys.items_stream_of(shard)
        takeover = DeadTakeover(
            client, stream, ITEMS_GROUP, registry, leases_elsewhere=shard > 0, shared=shared
        )
        dead = keys.items_dead_of(shard)
        return StreamConsumer(client, stream, ITEMS_GROUP, "idle", dead, takeover=takeover)

    consumer: StreamConsumer | ShardedConsumer = shard_consumer(0)
    if partitions > 1:
        consumer = ShardedConsumer(client, shard_consumer, lambda: partitions)
    try:
        consumer.ensure_group()
        consumer.read(16, 1000)  # the first pass (own pending) is not idle polling
        before, started = all_calls(client), time.monotonic()
        while time.monotonic() - started < seconds:
            consumer.read(16, 1000)
        return (all_calls(client) - before) / (time.monotonic() - started)
    finally:
        stale = list(client.scan_iter(match=f"{{{keys.prefix}:*"))
        for key in stale:
            client.delete(key)
        client.close()


def idle_rates(cluster_url: str, counts: list[int]) -> dict[str, float]:
    rates = {}
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
        for n in counts:
            rates[f"server_p{n}"] = round(idle_rate(server.url, n), 1)
    for n in counts:
        rates[f"cluster_p{n}"] = round(idle_rate(cluster_url, n), 1)
    print(f"\n{'idle worker, commands/s':<26} " + " ".join(f"{n:>8}" for n in counts))
    for where in ("server", "cluster"):
        print(f"{where:<26} " + " ".join(f"{rates[f'{where}_p{n}']:>8}" for n in counts))
    return rates


def grouped(by_tag: dict[str, int]) -> dict[str, int]:
    """Per tag, the items shards 1.. folded into one line (`items:*`), their busiest apart."""
    out: Counter[str] = Counter()
    for tag, n in by_tag.items():
        out["items:1.. (all)" if re.fullmatch(r"items:\d+", tag) else tag] += n
    return dict(out.most_common())


def show(plain: dict[str, Any], watched: dict[str, Any]) -> None:
    articles = plain["articles"]
    total = sum(plain["per_node"])
    print(f"\n== {plain['partitions']} partition(s): {articles} articles, {plain['alerts']} alerts")
    print(f"{'master':<8} {'commands':>9} {'share':>6} {'script ms':>10} {'script ms/article':>18}")
    for n, (calls, ms) in enumerate(zip(plain["per_node"], plain["script_ms"], strict=True)):
        print(f"{n:<8} {calls:>9} {calls / total:>6.0%} {ms:>10} {ms / articles:>18.2f}")
    ours = sum(watched["per_node_ours"])
    print(f"{'hash tag (MONITOR run)':<24} {'commands':>9} {'per article':>12} {'share':>6}")
    for tag, n in grouped(watched["by_tag"]).items():
        print(f"{'{' + tag + '}':<24} {n:>9} {n / articles:>12.1f} {n / ours:>6.0%}")
    shards = {t: n for t, n in watched["by_tag"].items() if re.fullmatch(r"items:\d+", t)}
    if shards:
        busiest = max(shards.values())
        print(f"busiest items shard: {busiest} commands ({busiest / ours:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=32)
    parser.add_argument("--per-feed", type=int, default=8)
    parser.add_argument("--counts", default="1,16")
    parser.add_argument("--cluster", help="a redis+cluster:// URL (default: a local one)")
    parser.add_argument("--idle-only", action="store_true", help="only an idle worker's cost")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="wirewatch-bench-cluster-"))
    cluster = None if args.cluster else LocalCluster(folder).start()
    url = args.cluster or (cluster.url if cluster else "")
    try:
        idle = idle_rates(url, counts)
        runs = [] if args.idle_only else [
            (one_run(url, n, args.feeds, args.per_feed, False),
             one_run(url, n, args.feeds, args.per_feed, True))
            for n in counts
        ]  # fmt: skip
    finally:
        if cluster is not None:
            cluster.stop()
            stop_started_in(folder)
    figures: dict[str, Any] = {"idle_worker_commands_per_s": idle}
    for plain, watched in runs:
        show(plain, watched)
        total, articles = sum(plain["per_node"]), plain["articles"]
        figures[f"p{plain['partitions']}"] = {
            "node_command_shares": [round(n / total, 3) for n in plain["per_node"]],
            "max_node_share": round(max(plain["per_node"]) / total, 3),
            "commands_per_article": round(total / articles, 1),
            "script_ms_per_article_by_node": [round(ms / articles, 2) for ms in plain["script_ms"]],
            "by_tag_per_article": {
                t: round(n / articles, 2) for t, n in grouped(watched["by_tag"]).items()
            },
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
