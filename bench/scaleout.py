"""Recovery and failover: how long work waits after a SIGKILL, and how long a master failover
pauses writes on a Redis Cluster.

1. Recovery (own embedded Redis unless --redis): a real `wirewatch worker` holds items in flight
   (article pages that answer after 30 s), a second worker runs beside it; the first is SIGKILLed
   (dead on this machine) or SIGSTOPped (frozen: alive to the kernel, as a vanished machine
   looks, so only its lease tells) and the time until none of its entries is pending under it
   any more (claimed by the live one) is measured. Baseline in the same run: the bound before liveness, `worker.claim_idle`
   (5 min by default), which the same test would have waited for. Goal: <= 10 s.
2. Failover pause (a local cluster of 3 masters and 3 replicas, tests/support/cluster.py,
   cluster-node-timeout 2 s): a client writes to a key every 10 ms; the master of its slot is
   SIGKILLed; the pause is the time from the kill to the first successful write after it.

3. Throughput (`--throughput`): 1, 2 and 3 `wirewatch worker` processes over the 181 corpus
   pages (served by a local server in a process of its own; feed entries with title, author and
   time, as in bench/worker_throughput.py), on one Redis (embedded unless --redis) and on the
   local cluster: the workers are started and hold their leases, then all items are queued at
   once; the figure is items / time until the group has every one acked, with the CPU the
   workers' processes and Redis spent (read from /proc and INFO).

Usage: .venv/bin/python bench/scaleout.py [--trials 5] [--redis URL] [--skip-cluster]
       .venv/bin/python bench/scaleout.py --throughput [--rounds 2] [--redis URL] [--skip-cluster]
Prints a table and ends with one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchredis import bench_redis  # noqa: E402
from tests.support.cluster import LocalCluster  # noqa: E402
from worker.queue.connection import open_client  # noqa: E402
from worker.queue.keys import ITEMS_GROUP, Keys  # noqa: E402
from worker.records import FeedItem  # noqa: E402

CLAIM_IDLE_S = 300.0
IN_FLIGHT = 4
PAGE_DELAY_S = 30.0


class SlowPages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(PAGE_DELAY_S)
        body = b"<html><body><p>NATO.</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_pages() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowPages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(folder: Path, prefix: str) -> Path:
    config = {
        "redis_prefix": prefix,
        "data_dir": str(folder / "data"),
        "watchlists": [{"id": "nato", "query": "NATO"}],
        "fetch": {"allow_private_addresses": True, "timeout": "60s"},
        "scheduler": {"host_min_spacing": "0s", "host_max_concurrent": 64},
        "worker": {"concurrency": IN_FLIGHT, "batch": IN_FLIGHT, "claim_idle": "5m"},
        "log": {"format": "json", "level": "warning"},
    }
    path = folder / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def queue_items(client: redis.Redis, keys: Keys, port: int, count: int, trial: int) -> None:
    for n in range(count):
        url = f"http://127.0.0.1:{port}/t{trial}/{n}"
        item = FeedItem("http://feed.test/", "feed", f"t{trial}-{n}", url, f"NATO {n}", "")
        client.xadd(keys.items_stream, {"item": item.to_json()})


def start_worker(name: str, config: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker", "--name", name, "--config", str(config)],
        env={**os.environ, "REDIS_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pending_of(client: redis.Redis, stream: str, name: str) -> int:
    try:
        summary: Any = client.xpending(stream, ITEMS_GROUP)
    except redis.ResponseError:  # the worker has not created its group yet
        return 0
    return sum(int(c["pending"]) for c in summary.get("consumers") or [] if c["name"] == name)


def wait_for(condition: Any, timeout: float, step: float = 0.01) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    return None


def recovery_trial(
    client: redis.Redis, target: Any, trial: int, port: int, how: signal.Signals
) -> float | None:
    """SIGKILL: a dead process of this machine (known dead at once). SIGSTOP: a frozen one,
    alive to the kernel, as a machine that vanished looks: only its lease tells."""
    keys = Keys(f"{target.prefix}{how.name}{trial}")
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), keys.prefix)
        url = target.url
        victim = start_worker(f"victim-{trial}", config, url)
        survivor = None
        try:
            queue_items(client, keys, port, IN_FLIGHT, trial)
            stream = keys.items_stream
            if wait_for(lambda: pending_of(client, stream, f"victim-{trial}") > 0, 60) is None:
                return None
            survivor = start_worker(f"survivor-{trial}", config, url)
            # the survivor is up (its lease is there) before the kill: start-up is not recovery
            leases = keys.instance_leases("worker")
            if wait_for(lambda: client.zscore(leases, f"survivor-{trial}") is not None, 60) is None:
                return None
            time.sleep(1.0)
            victim.send_signal(how)
            return wait_for(lambda: pending_of(client, stream, f"victim-{trial}") == 0, 60)
        finally:
            for process in (victim, survivor):
                if process is not None and process.poll() is None:
                    process.kill()
                if process is not None:
                    process.wait()


def recovery(trials: int, url: str | None, how: signal.Signals) -> list[float | None]:
    pages = start_pages()
    results = []
    with bench_redis(url) as target:
        client = redis.Redis.from_url(target.url, decode_responses=True)
        try:
            for trial in range(trials):
                port = pages.server_address[1]
                results.append(recovery_trial(client, target, trial, port, how))
        finally:
            target.clear(client)
            client.close()
    pages.shutdown()
    return results


def failover_pauses(trials: int) -> list[float | None]:
    """One cluster; each trial kills a master that still has a replica."""
    pauses: list[float | None] = []
    with tempfile.TemporaryDirectory() as folder:
        cluster = LocalCluster(Path(folder)).start()
        try:
            client = open_client(cluster.url)
            for trial in range(min(trials, 3)):
                key = f"{{bench-failover-{trial}}}:k"
                # the previous failover settled: writes succeed again everywhere
                if wait_for(lambda k=key: _write(client, k), 60, step=0.1) is None:
                    pauses.append(None)
                    continue
                time.sleep(3)
                master = client.get_node_from_key(key).port  # type: ignore[union-attr]
                cluster.kill(master)
                killed = time.monotonic()
                pauses.append(wait_for(lambda k=key: _write(client, k), 60, step=0.01))
                if pauses[-1] is not None:
                    pauses[-1] = time.monotonic() - killed
            client.close()
        finally:
            cluster.stop()
    return pauses


def _write(client: Any, key: str) -> bool:
    try:
        client.incr(key)
    except redis.RedisError:
        return False
    return True


THROUGHPUT_WATCHLISTS = [
    {"id": f"w{n}", "query": q}
    for n, q in enumerate(["NATO", "election", "climate", "police", "Google", "bitcoin"])
]


def throughput_config(folder: Path, prefix: str) -> Path:
    config = {
        "redis_prefix": prefix,
        "data_dir": str(folder / "data"),
        "watchlists": THROUGHPUT_WATCHLISTS,
        "fetch": {"allow_private_addresses": True},
        # every page is on one host here; a real deployment spreads its pages over many
        "scheduler": {"host_min_spacing": "0s", "host_max_concurrent": 64},
        "log": {"format": "json", "level": "info"},
    }
    path = folder / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_cpu_s(client: Any, ports: list[int] | None) -> float | None:
    """The Redis servers' CPU seconds so far (every node of a cluster), None if unreadable."""
    try:
        nodes = [redis.Redis(port=p) for p in ports] if ports else [client]
        total = 0.0
        for node in nodes:
            info = node.info("cpu")
            total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return total
    except redis.RedisError:
        return None


def all_acked(client: Any, stream: str, last_id: str) -> bool:
    try:
        groups: Any = client.xinfo_groups(stream)
    except redis.ResponseError:
        return False
    for group in groups:
        if group["name"] in (ITEMS_GROUP, ITEMS_GROUP.encode()):
            delivered = group["last-delivered-id"]
            delivered = delivered.decode() if isinstance(delivered, bytes) else delivered
            return bool(delivered == last_id and int(group["pending"]) == 0)
    return False


def throughput_trial(
    url: str, client: Any, prefix: str, site: str, pages: list[Any], workers: int,
    node_ports: list[int] | None,
) -> dict[str, float] | None:  # fmt: skip
    keys = Keys(prefix)
    with tempfile.TemporaryDirectory() as folder:
        config = throughput_config(Path(folder), prefix)
        names = [f"{prefix}-w{k}" for k in range(workers)]
        processes = [start_worker(name, config, url) for name in names]
        try:
            leases = keys.instance_leases("worker")
            up = lambda: all(client.zscore(leases, n) is not None for n in names)  # noqa: E731
            if wait_for(up, 120, step=0.1) is None:
                return None
            time.sleep(1.0)
            cpu_before = sum(process_cpu_s(p.pid) for p in processes)
            redis_before = redis_cpu_s(client, node_ports)
            pipe = client.pipeline(transaction=False)
            for n, page in enumerate(pages):
                item = FeedItem(
                    f"{site}/feed.xml", "bench", f"{prefix}-{n}", site + page.path, page.title,
                    author=page.author, published_at=page.published.isoformat(),
                )  # fmt: skip
                pipe.xadd(keys.items_stream, {"item": item.to_json()})
            ids = pipe.execute()
            last = ids[-1].decode() if isinstance(ids[-1], bytes) else ids[-1]
            started = time.monotonic()
            elapsed = wait_for(lambda: all_acked(client, keys.items_stream, last), 600, 0.05)
            if elapsed is None:
                return None
            elapsed = time.monotonic() - started
            cpu = sum(process_cpu_s(p.pid) for p in processes) - cpu_before
            redis_after = redis_cpu_s(client, node_ports)
            redis_spent = (
                redis_after - redis_before
                if redis_after is not None and redis_before is not None
                else float("nan")
            )
            return {"per_s": len(pages) / elapsed, "cpu_ms": cpu / len(pages) * 1000,
                    "redis_cpu_ms": redis_spent / len(pages) * 1000}  # fmt: skip
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def throughput(rounds: int, url: str | None, cluster: bool) -> dict[str, dict[str, Any]]:
    from bench.worker_throughput import load_pages, start_site

    pages = load_pages()
    server, site = start_site(pages)
    results: dict[str, dict[str, Any]] = {}
    try:
        with bench_redis(url) as target:
            client = open_client(target.url)
            _throughput_on("one server", target.url, client, target.prefix, site, pages,
                           rounds, None, results)  # fmt: skip
            target.clear(client)
            client.close()
        if cluster:
            with tempfile.TemporaryDirectory() as folder:
                local = LocalCluster(Path(folder)).start()
                try:
                    client = open_client(local.url)
                    _throughput_on("cluster (3+3)", local.url, client, "bench", site, pages,
                                   rounds, local.masters(), results)  # fmt: skip
                    client.close()
                finally:
                    local.stop()
    finally:
        server.terminate()
        server.join()
    return results


def _throughput_on(
    label: str, url: str, client: Any, prefix: str, site: str, pages: list[Any], rounds: int,
    ports: list[int] | None, results: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    for workers in (1, 2, 3):
        trials = []
        for round_ in range(rounds):
            name = f"{prefix}tp{workers}r{round_}"
            trial = throughput_trial(url, client, name, site, pages, workers, ports)
            print(f"{label}, {workers} workers, round {round_ + 1}: {trial}", file=sys.stderr)
            if trial is not None:
                trials.append(trial)
        if trials:
            results[f"{label}, {workers} worker{'s' if workers > 1 else ''}"] = {
                key: round(statistics.median(t[key] for t in trials), 2) for key in trials[0]
            } | {"rounds": len(trials)}


def report_throughput(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'setup':<32} {'items/s':>8} {'x 1 worker':>10} {'worker CPU ms/item':>19}"
          f" {'Redis CPU ms/item':>18}")  # fmt: skip
    for label, row in results.items():
        single = results.get(label.split(",")[0] + ", 1 worker", row)
        print(f"{label:<32} {row['per_s']:8.1f} {row['per_s'] / single['per_s']:10.2f}"
              f" {row['cpu_ms']:19.1f} {row['redis_cpu_ms']:18.2f}")  # fmt: skip
    print(json.dumps(results))


def median(values: list[float | None]) -> float | None:
    measured = [v for v in values if v is not None]
    return round(statistics.median(measured), 2) if measured else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--redis", help="a Redis URL (default: an embedded server of its own)")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--throughput", action="store_true", help="measure only throughput")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds per setup")
    args = parser.parse_args()
    if args.throughput:
        report_throughput(throughput(args.rounds, args.redis, not args.skip_cluster))
        return
    recoveries = recovery(args.trials, args.redis, signal.SIGKILL)
    frozen = recovery(args.trials, args.redis, signal.SIGSTOP)
    pauses = [] if args.skip_cluster else failover_pauses(args.trials)
    print(f"{'measure':<44} {'median s':>9} {'max s':>7}  trials")
    shown = [v for v in recoveries if v is not None]
    print(
        f"{'SIGKILL -> entries claimed (liveness)':<44} {median(recoveries)!s:>9}"
        f" {max(shown, default=0):>7.2f}  {recoveries}"
    )
    shown_frozen = [v for v in frozen if v is not None]
    print(
        f"{'SIGSTOP (frozen: only the lease tells)':<44} {median(frozen)!s:>9}"
        f" {max(shown_frozen, default=0):>7.2f}  {frozen}"
    )
    print(f"{'baseline: claim_idle (before liveness)':<44} {CLAIM_IDLE_S:>9.1f}")
    if pauses:
        shown = [v for v in pauses if v is not None]
        print(
            f"{'cluster: master SIGKILL -> next write ok':<44} {median(pauses)!s:>9}"
            f" {max(shown, default=0):>7.2f}  {pauses}"
        )
    rec = median(recoveries)
    figures = {
        "recovery_s_median": rec,
        "recovery_s_max": round(max(shown_rec), 2)
        if (shown_rec := [v for v in recoveries if v is not None])
        else None,
        "recovery_trials": len(recoveries),
        "recovery_failed_trials": sum(1 for v in recoveries if v is None),
        "frozen_recovery_s_median": median(frozen),
        "frozen_recovery_s_max": round(max(shown_frozen), 2) if shown_frozen else None,
        "claim_idle_baseline_s": CLAIM_IDLE_S,
        "recovery_vs_claim_idle": round(rec / CLAIM_IDLE_S, 4) if rec is not None else None,
        "failover_pause_s_median": median(pauses),
        "failover_pause_s_max": round(max(v for v in pauses if v is not None), 2)
        if any(v is not None for v in pauses)
        else None,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
