"""Webhook delivery: throughput of one notifier, alert-to-receipt latency, and isolation.

Runs a real `wirewatch notifier` process against a Redis (REDIS_URL if set, written only under a
fresh key prefix that is deleted afterwards; else an embedded server of its own) and a local
receiver in its own process. Alerts are put on the alerts
stream exactly as workers put them.

1. Throughput: a burst of alerts to one endpoint; alerts delivered per second.
2. Latency baseline: alerts at a steady rate to two live endpoints; creation-to-receipt p50/p99.
3. Latency with a dead endpoint: the same, plus a third endpoint that accepts connections and
   never answers (each request waits out the timeout). The goal: the live endpoints' latency grows
   by no more than 10% over the baseline measured in the same run.

Prints a table and ends with one line holding a JSON object of the figures.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchredis import bench_redis  # noqa: E402
from worker.alerts.build import alert_data, webhook_body  # noqa: E402
from worker.queue.keys import Keys  # noqa: E402
from worker.records import Article  # noqa: E402

# The Redis under test: $REDIS_URL if set (written only under a fresh prefix, never flushed),
# else an embedded server of this bench's own (set in main()).
REDIS_URL = os.environ.get("REDIS_URL", "")
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BURST = 3000
RATE_PER_S = 100
PACED = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def receiver_main(port: int, results: Any, ready: Any, done: Any, live_count: Any) -> None:
    """A receiver process: records (path, alert id, receipt time) of every POST."""
    records: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received = time.time()
            with lock:
                records.append((self.path, json.loads(body)["data"]["alert_id"], received))
            if self.path != "/dead":
                with live_count.get_lock():
                    live_count.value += 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    done.wait()
    with lock:
        results.put(records)


def hanging_server(port: int) -> socket.socket:
    """Accepts connections (the kernel's backlog) and never answers: a dead endpoint."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


def write_config(directory: Path, prefix: str, endpoints: dict[str, str]) -> Path:
    config = {
        "redis_prefix": prefix,
        "data_dir": str(directory / "data"),
        "webhooks": [{"id": eid, "url": url, "secret": SECRET} for eid, url in endpoints.items()],
        "delivery": {"timeout": "2s", "retry_schedule": ["1h"], "breaker_threshold": 1000},
        "log": {"level": "warning", "format": "json"},
    }
    path = directory / f"{prefix}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def alert_fields(index: int, notify: list[str]) -> dict[str, str]:
    article = Article(
        url=f"https://news.example/{index}",
        canonical_url=f"https://news.example/{index}",
        title=f"NATO story {index}",
        text="",
        feed_url="https://news.example/feed",
        feed_name="Example",
    )
    matches = [{"field": "title", "text": "NATO", "snippet": f"NATO story {index}"}]
    data = alert_data(article, ("nato", "NATO"), (f"st_{index:08x}", 1), matches)
    body = webhook_body(data, __import__("datetime").datetime.now(__import__("datetime").UTC))
    return {"notify": json.dumps(notify), "body": body}


def run_scenario(
    name: str, endpoints: dict[str, str], count: int, rate: float | None
) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = "bench" + uuid.uuid4().hex[:8]
    keys = Keys(prefix)
    port = int(endpoints[next(iter(endpoints))].split(":")[2].split("/")[0])
    results, ready, done, live_count = mp.Queue(), mp.Event(), mp.Event(), mp.Value("i", 0)
    receiver = mp.Process(
        target=receiver_main, args=(port, results, ready, done, live_count), daemon=True
    )
    receiver.start()
    ready.wait(10)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), prefix, endpoints)
        env = {**os.environ, "REDIS_URL": REDIS_URL}
        notifier = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "notifier", "--config", str(config)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(4)  # start-up (imports, consumer group) is not part of the figures
        cpu_before = process_cpu_s(notifier.pid)
        created = inject(client, keys, count, list(endpoints), rate)
        expected = count * len([eid for eid in endpoints if eid != "dead"])
        deadline = time.time() + 300
        while time.time() < deadline and live_count.value < expected:
            time.sleep(0.05)
        cpu_used = process_cpu_s(notifier.pid) - cpu_before
        notifier.send_signal(signal.SIGTERM)
        notifier.wait(60)
    done.set()
    records = results.get(timeout=30)
    receiver.join(10)
    for key in client.scan_iter(match=f"{{{prefix}:*"):
        client.delete(key)
    figures = summarise(name, records, created, count)
    return figures | {"cpu_ms_per_alert": cpu_used * 1000 / count}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inject(
    client: redis.Redis, keys: Keys, count: int, notify: list[str], rate: float | None
) -> dict[str, float]:
    created: dict[str, float] = {}
    start = time.time()
    for index in range(count):
        fields = alert_fields(index, notify)
        if rate:
            time.sleep(max(0.0, start + index / rate - time.time()))
        created[json.loads(fields["body"])["data"]["alert_id"]] = time.time()
        client.xadd(keys.alerts_stream, fields)  # type: ignore[arg-type]
    return created


def summarise(
    name: str, records: list[tuple[str, str, float]], created: dict[str, float], count: int
) -> dict[str, Any]:
    live = [r for r in records if r[0] != "/dead"]
    latencies = sorted(
        (received - created[aid]) * 1000 for _, aid, received in live if aid in created
    )
    span = max(r[2] for r in live) - min(created.values()) if live else float("nan")
    return {
        "scenario": name,
        "alerts": count,
        "received": len(live),
        "per_s": len(live) / span if span else float("nan"),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, round(pct / 100 * (len(values) - 1)))
    return values[index]


def main() -> None:
    global REDIS_URL  # noqa: PLW0603 - the server every scenario of this run uses
    with bench_redis(REDIS_URL or None) as target:
        REDIS_URL = target.url
        measure()


def measure() -> None:
    port, dead_port = free_port(), free_port()
    dead = hanging_server(dead_port)
    live = {"a": f"http://127.0.0.1:{port}/a", "b": f"http://127.0.0.1:{port}/b"}
    rows = [run_scenario("throughput, 1 endpoint, burst", {"a": live["a"]}, BURST, None)]
    baselines, with_dead = [], []
    for _ in range(3):  # alternate, so drift on a shared machine hits both alike
        baselines.append(run_scenario("2 live endpoints", live, PACED, RATE_PER_S))
        with_dead.append(
            run_scenario(
                "2 live + 1 dead",
                {**live, "dead": f"http://127.0.0.1:{dead_port}/dead"},
                PACED,
                RATE_PER_S,
            )
        )
    dead.close()
    rows += baselines + with_dead
    print(
        f"{'scenario':<32} {'alerts':>7} {'received':>9} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/alert':>13}"
    )
    for r in rows:
        print(
            f"{r['scenario']:<32} {r['alerts']:>7} {r['received']:>9} {r['per_s']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['cpu_ms_per_alert']:>13.2f}"
        )
    base_p50 = statistics.median(r["p50_ms"] for r in baselines)
    base_p99 = statistics.median(r["p99_ms"] for r in baselines)
    dead_p50 = statistics.median(r["p50_ms"] for r in with_dead)
    dead_p99 = statistics.median(r["p99_ms"] for r in with_dead)
    figures = {
        "throughput_per_s": round(rows[0]["per_s"]),
        "burst_p50_ms": round(rows[0]["p50_ms"], 1),
        "live_p50_ms": round(base_p50, 2),
        "live_p99_ms": round(base_p99, 2),
        "live_with_dead_p50_ms": round(dead_p50, 2),
        "live_with_dead_p99_ms": round(dead_p99, 2),
        "p50_ratio": round(dead_p50 / base_p50, 3),
        "p99_ratio": round(dead_p99 / base_p99, 3),
    }
    print(
        f"live endpoints' latency with a dead one beside them: p50 x{figures['p50_ratio']}, p99 x{figures['p99_ratio']} (goal <= 1.10)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
