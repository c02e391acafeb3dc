"""The web role under load: GET /api/v1/alerts with 100,000 alerts stored, POST /api/v1/match on
a 10 KB text, and Redis memory per stored alert.

Starts its own embedded Redis (in a temporary directory; nothing else is touched), puts 100,000
alerts on the alerts stream exactly as workers do, indexes them as the web role does, and starts
a real `wirewatch web` process. A load generator in another process keeps 50 clients busy
(closed loop: each sends its next request when the last one answered) and times every request.
The baseline, measured in the same run under the same load, is GET /healthz: the cost of the
HTTP stack itself, so the ratios show what each endpoint adds.

Latency under 50 closed-loop clients is mostly queueing (about clients / throughput), so it
depends on how many cores the machine gives the server. The bench therefore also reports the
web process's CPU time per request (user + system of the process and its children, read from
/proc before and after each scenario, warm-up excluded): a figure that does not depend on the
load, and its ratio to /healthz's in the same run. "gen. busy" is the load generator's own CPU
share over the scenario: near 100%, the generator and not the server holds the rate down.

Options: --clients (50), --requests per scenario (3000), --alerts stored (100,000), --workers
(web.workers, 1), --no-fast-paths (web.fast_paths off: every request through FastAPI, the
comparison for worker/web/fastlane.py).

Goals (issue 13): p99 of GET /api/v1/alerts <= 50 ms; p99 of POST /api/v1/match <= 20 ms.
Prints a table and ends with one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.alerts.build import alert_data, webhook_body  # noqa: E402
from worker.alerts.index import AlertIndex  # noqa: E402
from worker.queue.embedded import EmbeddedRedis  # noqa: E402
from worker.queue.keys import Keys  # noqa: E402
from worker.records import Article  # noqa: E402

ALERTS = int(os.environ.get("BENCH_ALERTS", "100000"))
CLIENTS = 50
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))  # per scenario
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TOKEN = "bench-token-0123456789abcdef"
PREFIX = "bench"
WATCHLISTS = ["nato", "taiwan", "olympics", "ukraine", "climate"]
SENTENCE = (
    "the government said on tuesday that talks with neighbouring states would resume next week "
    "after officials met in the capital to discuss trade energy security and migration policy"
)
WORDS = SENTENCE.split(" ")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def store_alerts(client: redis.Redis, keys: Keys, count: int) -> None:
    now = datetime.now(UTC)
    rng = random.Random(7)
    for start in range(0, count, 2000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + 2000)):
            watchlist = WATCHLISTS[i % len(WATCHLISTS)]
            title = " ".join(rng.choice(WORDS) for _ in range(9)).capitalize()
            article = Article(
                url=f"https://news{i % 40}.example/world/{i}-{title[:30].replace(' ', '-')}",
                canonical_url=f"https://news{i % 40}.example/world/{i}",
                title=title,
                text="",
                published_at=now.isoformat(),
                language="en",
                feed_url=f"https://news{i % 40}.example/feed",
                feed_name=f"News {i % 40}",
            )
            snippet = " ".join(rng.choice(WORDS) for _ in range(24))
            matches = [{"field": "body", "text": watchlist.upper(), "snippet": snippet}]
            data = alert_data(article, (watchlist, watchlist.title()), (f"st_{i}", 1), matches)
            fields = {
                "notify": '["hook"]',
                "body": webhook_body(data, now),
            }
            pipe.xadd(keys.alerts_stream, fields)
        pipe.execute()


def index_alerts(client: redis.Redis, keys: Keys) -> float:
    index = AlertIndex(client, keys, 30 * 86400, 1_000_000)
    started = time.perf_counter()
    after = "-"
    while batch := client.xrange(keys.alerts_stream, after, "+", count=1000):
        index.ingest(batch)  # as the notifiers do when they take alerts
        after = "(" + batch[-1][0]
    return time.perf_counter() - started


def match_text() -> str:
    rng = random.Random(11)
    words = []
    while sum(len(w) + 1 for w in words) < 10_000:
        words.append(rng.choice(WORDS))
    words[len(words) // 2] = "NATO"
    return "Talks resume\n" + " ".join(words)


class Connection:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: the load generator must cost
    far less CPU than the server it measures (httpx's async client costs about as much)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def raw_request(port: int, request: dict[str, Any]) -> bytes:
    path = request["url"]
    if request.get("params"):
        path += "?" + "&".join(f"{k}={v}" for k, v in request["params"].items())
    body = json.dumps(request["json"]).encode() if "json" in request else b""
    head = (
        f"{request['method']} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
    )
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def client_loop(connection: Connection, raw: bytes, count: int, out: list) -> None:
    for _ in range(count):
        started = time.perf_counter()
        status = await connection.request(raw)
        out.append((time.perf_counter() - started, status))


async def load(
    port: int, request: dict[str, Any], total: int, clients: int, barrier: Any
) -> dict[str, Any]:
    raw = raw_request(port, request)
    connections = [Connection("127.0.0.1", port) for _ in range(clients)]
    await asyncio.gather(*(client_loop(c, raw, 2, []) for c in connections))  # connect, warm up
    barrier.wait()  # the parent reads the server's CPU time now
    results: list[tuple[float, int]] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client_loop(c, raw, total // clients, results) for c in connections))
    elapsed, generator_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    barrier.wait()  # ... and now
    await asyncio.gather(*(c.close() for c in connections))
    times = sorted(t for t, _ in results)
    return {
        "requests": len(times),
        "errors": sum(1 for _, status in results if status != 200),
        "per_s": len(times) / elapsed,
        "p50_ms": 1000 * statistics.median(times),
        "p99_ms": 1000 * times[int(0.99 * (len(times) - 1))],
        # The generator's own CPU: near 1000 ms per second of wall time, it (not the server)
        # would be what holds the rate down.
        "generator_cpu_ms": 1000 * generator_cpu / len(times),
        "generator_busy": generator_cpu / elapsed,
    }


def generator_main(
    port: int,
    scenarios: list[tuple[str, dict[str, Any]]],
    total: int,
    clients: int,
    barrier: Any,
    out: Any,
) -> None:
    """The load generator process: each scenario in turn, `clients` clients each."""
    out.put(
        [(name, asyncio.run(load(port, req, total, clients, barrier))) for name, req in scenarios]
    )


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the thread or process ended meanwhile
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants (uvicorn's workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        pending += _children(current)
    return total


def measure_cpu(pid: int, scenarios: int, barrier: Any) -> list[float]:
    """The web processes' CPU seconds spent in each scenario's measured part."""
    spent = []
    for _ in range(scenarios):
        barrier.wait()
        before = process_tree_cpu_s(pid)
        barrier.wait()
        spent.append(process_tree_cpu_s(pid) - before)
    return spent


def start_web(
    redis_url: str, port: int, directory: Path, workers: int, fast_paths: bool = True
) -> subprocess.Popen[bytes]:
    config: dict[str, Any] = {
        "redis_prefix": PREFIX,
        "data_dir": str(directory / "data"),
        "watchlists": [{"id": w, "query": w.upper()} for w in WATCHLISTS],
        "web": {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "tokens": [{"id": "b", "token": TOKEN, "scope": "read"}],
        },
        "log": {"level": "warning", "format": "json"},
    }
    if workers != 1:  # absent otherwise, so the bench also runs on a version without it
        config["web"]["workers"] = workers
    if not fast_paths:  # likewise
        config["web"]["fast_paths"] = False
    path = directory / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "web", "--config", str(path)], env=env
    )


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web role did not start")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per scenario")
    parser.add_argument("--alerts", type=int, default=ALERTS, help="alerts stored")
    parser.add_argument("--workers", type=int, default=1, help="web.workers")
    parser.add_argument(
        "--no-fast-paths", dest="fast_paths", action="store_false", help="web.fast_paths off"
    )
    return parser.parse_args()


def scenarios_to_run() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("GET /healthz (baseline)", {"method": "GET", "url": "/healthz"}),
        ("GET /api/v1/alerts", {"method": "GET", "url": "/api/v1/alerts"}),
        (
            "GET /api/v1/alerts?watchlist=",
            {"method": "GET", "url": "/api/v1/alerts", "params": {"watchlist": "taiwan"}},
        ),
        (
            "POST /api/v1/match (10 KB)",
            {
                "method": "POST",
                "url": "/api/v1/match",
                "json": {"query": "NATO NEAR/5 talks", "text": match_text()},
            },
        ),
    ]


def run_load(args: argparse.Namespace, port: int, web_pid: int) -> list[tuple[str, Any]]:
    """The generator in another process; this one reads the web processes' CPU meanwhile."""
    scenarios = scenarios_to_run()
    spawn = mp.get_context("spawn")
    queue: Any = spawn.Queue()
    barrier: Any = spawn.Barrier(2, timeout=1800)
    generator = spawn.Process(
        target=generator_main,
        args=(port, scenarios, args.requests, args.clients, barrier, queue),
    )
    generator.start()
    cpu = measure_cpu(web_pid, len(scenarios), barrier)
    rows: list[tuple[str, Any]] = queue.get(timeout=1800)
    generator.join()
    for (_, row), seconds in zip(rows, cpu, strict=True):
        row["cpu_ms"] = 1000 * seconds / row["requests"]
    return rows


def main() -> None:
    args = options()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        keys = Keys(PREFIX)
        empty = used_memory(client)
        store_alerts(client, keys, args.alerts)
        with_stream = used_memory(client)
        index_s = index_alerts(client, keys)
        indexed = used_memory(client)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = start_web(server.url, port, Path(tmp), args.workers, args.fast_paths)
        try:
            wait_up(base)
            rows = run_load(args, port, web.pid)
        finally:
            web.terminate()
            web.wait(timeout=30)
        client.close()
    report(args, rows, (empty, with_stream, indexed), index_s)


def report(
    args: argparse.Namespace,
    rows: list[tuple[str, Any]],
    memory: tuple[int, int, int],
    index_s: float,
) -> None:
    alerts = args.alerts
    base_row = rows[0][1]
    print(
        f"{len(rows[1:])} scenarios, {args.clients} concurrent clients, {args.requests} requests "
        f"each, {alerts:,} alerts stored, web.workers {args.workers}, web.fast_paths "
        f"{'on' if args.fast_paths else 'off'}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'scenario':<34} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'p50 ×base':>10}"
        f" {'p99 ×base':>10} {'CPU ms/req':>11} {'CPU ×base':>10} {'gen. busy':>10} {'errors':>7}"
    )
    for name, r in rows:
        print(
            f"{name:<34} {r['per_s']:>7.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
            f" {r['p50_ms'] / base_row['p50_ms']:>10.2f} {r['p99_ms'] / base_row['p99_ms']:>10.2f}"
            f" {r['cpu_ms']:>11.2f} {r['cpu_ms'] / base_row['cpu_ms']:>10.2f}"
            f" {r['generator_busy']:>10.0%} {r['errors']:>7}"
        )
    empty, with_stream, indexed = memory
    stream_bytes = (with_stream - empty) / alerts
    index_bytes = (indexed - with_stream) / alerts
    print(
        f"Redis memory per alert: stream {stream_bytes:.0f} B, web index {index_bytes:.0f} B;"
        f" indexed {alerts:,} in {index_s:.1f} s"
    )
    by_name = dict(rows)
    alerts_row = by_name["GET /api/v1/alerts"]
    match_row = by_name["POST /api/v1/match (10 KB)"]
    figures = {
        "alerts_stored": alerts,
        "clients": args.clients,
        "workers": args.workers,
        "fast_paths": args.fast_paths,
        "healthz_p50_ms": round(base_row["p50_ms"], 2),
        "healthz_p99_ms": round(base_row["p99_ms"], 2),
        "healthz_cpu_ms": round(base_row["cpu_ms"], 3),
        "alerts_p50_ms": round(alerts_row["p50_ms"], 2),
        "alerts_p99_ms": round(alerts_row["p99_ms"], 2),
        "alerts_per_s": round(alerts_row["per_s"]),
        "alerts_cpu_ms": round(alerts_row["cpu_ms"], 3),
        "alerts_generator_busy": round(alerts_row["generator_busy"], 2),
        "alerts_watchlist_p99_ms": round(by_name["GET /api/v1/alerts?watchlist="]["p99_ms"], 2),
        "match_p50_ms": round(match_row["p50_ms"], 2),
        "match_p99_ms": round(match_row["p99_ms"], 2),
        "match_per_s": round(match_row["per_s"]),
        "match_cpu_ms": round(match_row["cpu_ms"], 3),
        "match_generator_busy": round(match_row["generator_busy"], 2),
        "alerts_p99_ratio": round(alerts_row["p99_ms"] / base_row["p99_ms"], 2),
        "match_p99_ratio": round(match_row["p99_ms"] / base_row["p99_ms"], 2),
        "alerts_cpu_ratio": round(alerts_row["cpu_ms"] / base_row["cpu_ms"], 2),
        "match_cpu_ratio": round(match_row["cpu_ms"] / base_row["cpu_ms"], 2),
        "index_bytes_per_alert": round(index_bytes),
        "stream_bytes_per_alert": round(stream_bytes),
        "errors": sum(r["errors"] for _, r in rows),
    }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
