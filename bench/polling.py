"""Polling benchmark: 10,000 feeds from a local server, one scheduler process.

A raw asyncio HTTP/1.1 server in a child process serves /f/<n>. Each measured cycle, 10% of the
feeds gain one new item; the other 90% are unchanged: half answer 304 to their ETag, half send
the same body again (no validators, so the body hash decides). One FeedScheduler (the real
claim/lease, host gate and thread pool) polls every feed once per cycle against a real Redis.

Figures: cycle wall time and feeds/s; CPU per unchanged and per changed feed, as the thread CPU
of each poll (fetch, hash, parse, queue, state write with lease and slot release) and of each
whole job (the poll plus the claim and the host gate); whole-process CPU per feed (timer, pool,
the server's answers excluded: it is another process); beside `feedparser.parse` alone on the
same changed bodies in the same run (as bytes, and given the feed's URL as base).

All feeds are on one host (127.0.0.1), so the bench lifts that host's politeness limits (an
override, as a user would for their own server); the gate is still consulted for every poll.

    .venv/bin/python bench/polling.py [--feeds 10000] [--redis URL]
(an embedded Redis of its own unless --redis names one; never flushes a database it did not create)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchredis import bench_redis
from worker.fetching import Fetcher, FetchLimits
from worker.fetching.politeness import HostGate, HostLimit
from worker.observability.logging import configure_logging, get_logger
from worker.polling.poller import FeedPoller, PollOutcome, PollPolicy
from worker.polling.scheduler import FeedScheduler
from worker.queue.keys import Keys

ITEMS = 20


def feed_body(n: int, version: int) -> bytes:
    items = "".join(
        f"<item><guid>f{n}-{version - i}</guid><title>Story {version - i} of feed {n}</title>"
        f"<link>http://news.example/{n}/{version - i}</link><description>Paragraph about "
        f"events number {version - i}, with some words to make it a realistic size for a news "
        f"summary in a feed.</description><pubDate>Sat, 28 Nov 2026 {(version - i) % 24:02d}"
        ":00:00 GMT</pubDate></item>"
        for i in range(ITEMS)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}'
        f"</title><link>http://news.example/{n}</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


def serve(port_out: Any, cycle: Any) -> None:
    """The child process: answers /f/<n> from the shared cycle number."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(respond(head, cycle.value))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_out.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def respond(head: bytes, cycle: int) -> bytes:
    lines = head.decode("latin-1").split("\r\n")
    n = int(lines[0].split()[1].rsplit("/", 1)[1])
    version = ITEMS + sum(1 for c in range(1, cycle + 1) if n % 10 == c % 10)
    etag = f'"{n}-{version}"'
    if n % 2 == 0 and any(line.lower() == f"if-none-match: {etag}" for line in lines):
        return b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n"
    body = feed_body(n, version)
    extra = f"ETag: {etag}\r\n" if n % 2 == 0 else ""
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass(frozen=True)
class Feed:
    url: str
    name: str | None = None
    interval: float = 900.0
    tags: list[str] = field(default_factory=list)


class MeasuredPoller(FeedPoller):
    """Records the thread CPU time of every poll, by outcome."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.samples: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.last = threading.local()

    def poll(self, feed: Any, state: Any = None, *, finish: Any = None) -> PollOutcome:
        started = time.thread_time()
        outcome = super().poll(feed, state, finish=finish)
        spent = time.thread_time() - started
        with self.lock:
            self.samples.append((outcome.status, spent))
        self.last.status = outcome.status
        return outcome


class MeasuredScheduler(FeedScheduler):
    """Records the thread CPU time of every whole job (claim, host gate, poll, releases)."""

    def __init__(self, poller: MeasuredPoller, *args: Any, **kwargs: Any) -> None:
        super().__init__(poller, *args, **kwargs)
        self.measured = poller
        self.samples: list[tuple[str, float]] = []
        self.done = threading.Semaphore(0)

    def _run_once(self, feed_url: str) -> float:
        self.measured.last.status = "skipped"
        started = time.thread_time()
        delay = super()._run_once(feed_url)
        spent = time.thread_time() - started
        with self.measured.lock:
            self.samples.append((self.measured.last.status, spent))
        if self.measured.last.status != "skipped":
            self.done.release()
        return delay


def run_cycle(
    poller: MeasuredPoller, client: redis.Redis, keys: Keys, feeds: list[Feed], concurrency: int
) -> dict[str, Any]:
    pipe = client.pipeline(transaction=False)
    for feed in feeds:
        pipe.hset(keys.feed_state(feed.url), "next_poll", "0")
    pipe.execute()
    poller.samples.clear()
    gate = HostGate(client, keys, overrides={"127.0.0.1": HostLimit(concurrency, 0.0)})
    scheduler = MeasuredScheduler(
        poller, feeds, get_logger(), time.time, gate=gate, concurrency=concurrency,
        start_spread_s=0.001,
    )  # fmt: skip
    cpu, wall = time.process_time(), time.perf_counter()
    scheduler.start()
    for _ in feeds:
        scheduler.done.acquire()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scheduler.stop()
    return {"wall_s": wall, "process_cpu_s": cpu, "jobs": scheduler.samples}


def redis_counters(client: redis.Redis) -> dict[str, float]:
    cpu: Any = client.info("cpu")
    stats: Any = client.info("stats")
    memory: Any = client.info("memory")
    return {
        "cpu_s": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        "commands": float(stats["total_commands_processed"]),
        "bytes": float(stats["total_net_input_bytes"]) + float(stats["total_net_output_bytes"]),
        "memory": float(memory["used_memory"]),
    }


def redis_per_feed(
    empty: dict[str, float],
    before: dict[str, float],
    after: dict[str, float],
    feeds: int,
    client: redis.Redis,
    keys: Keys,
) -> dict[str, float]:
    """Redis's side of the measured cycle per feed poll (CPU, commands, bytes in + out), and the
    memory each feed holds after two polls (its state and seen-entry index; the queued items,
    left unconsumed here, are taken out)."""
    queued = float(client.memory_usage(keys.items_stream, samples=0) or 0)
    return {
        "redis_cpu_ms_per_poll": round((after["cpu_s"] - before["cpu_s"]) / feeds * 1000, 4),
        "redis_commands_per_poll": round((after["commands"] - before["commands"]) / feeds, 2),
        "redis_bytes_per_poll": round((after["bytes"] - before["bytes"]) / feeds),
        "redis_memory_per_feed": round((after["memory"] - empty["memory"] - queued) / feeds),
        "items_stream_bytes_per_item": round(queued / (feeds * (ITEMS + 0.1))),
    }


def per_status(samples: list[tuple[str, float]], status: str) -> list[float]:
    return [s for st, s in samples if st == status]


def feedparser_cpu(bodies: list[bytes], base: str | None = None) -> float:
    """Mean thread CPU of feedparser.parse alone; with `base`, given as the document's URL."""
    headers = {"content-location": base} if base else None
    spent = []
    for body in bodies:
        started = time.thread_time()
        feedparser.parse(io.BytesIO(body), response_headers=headers)
        spent.append(time.thread_time() - started)
    return statistics.mean(spent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis", help="a Redis URL (default: an embedded server of its own)")
    args = parser.parse_args()
    configure_logging("warning", "json")

    port, cycle = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    child = multiprocessing.Process(target=serve, args=(port, cycle), daemon=True)
    child.start()
    while not port.value:
        time.sleep(0.05)
    with bench_redis(args.redis) as target:
        client = redis.Redis.from_url(target.url, decode_responses=True)
        try:
            measure(args, port.value, cycle, client, Keys(target.prefix))
        finally:
            target.clear(client)
            client.close()
    child.terminate()


def measure(
    args: argparse.Namespace, port: int, cycle: Any, client: redis.Redis, keys: Keys
) -> None:
    feeds = [Feed(f"http://127.0.0.1:{port}/f/{n}") for n in range(args.feeds)]
    policy = PollPolicy(jitter=0.1, max_backoff_s=21600, seen_retention_s=86400 * 90)
    limits = FetchLimits(timeout_s=30, allow_private_addresses=True)
    with Fetcher(limits) as fetcher:
        poller = MeasuredPoller(client, keys, fetcher, policy, get_logger(), time.time)
        empty = redis_counters(client)
        warm = run_cycle(poller, client, keys, feeds, args.concurrency)  # first sight: all new
        cycle.value = 1
        before = redis_counters(client)
        measured = run_cycle(poller, client, keys, feeds, args.concurrency)
        after = redis_counters(client)
    measured["redis"] = redis_per_feed(empty, before, after, args.feeds, client, keys)
    changed_bodies = [feed_body(n, ITEMS + 1) for n in range(args.feeds) if n % 10 == 1]
    baseline = feedparser_cpu(changed_bodies)
    with_base = feedparser_cpu(changed_bodies, feeds[1].url)
    report(args.feeds, warm, measured, poller.samples, baseline, with_base)


def report(
    feeds: int,
    warm: dict[str, float],
    measured: dict[str, float],
    samples: list[tuple[str, float]],
    baseline_s: float,
    with_base_s: float,
) -> None:
    unchanged = per_status(samples, "unchanged")
    changed = per_status(samples, "new_items")
    jobs = measured["jobs"]
    figures = {
        "feeds": feeds,
        "first_cycle_s": round(warm["wall_s"], 2),
        "cycle_s": round(measured["wall_s"], 2),
        "feeds_per_s": round(feeds / measured["wall_s"], 1),
        "unchanged": len(unchanged),
        "changed": len(changed),
        "errors": len(per_status(samples, "error")),
        "unchanged_cpu_ms": round(statistics.mean(unchanged) * 1000, 3),
        "changed_cpu_ms": round(statistics.mean(changed) * 1000, 3),
        "unchanged_job_cpu_ms": round(statistics.mean(per_status(jobs, "unchanged")) * 1000, 3),
        "changed_job_cpu_ms": round(statistics.mean(per_status(jobs, "new_items")) * 1000, 3),
        "feedparser_cpu_ms": round(baseline_s * 1000, 3),
        "feedparser_with_url_cpu_ms": round(with_base_s * 1000, 3),
        "changed_vs_feedparser": round(statistics.mean(changed) / baseline_s, 3),
        "changed_job_vs_feedparser": round(
            statistics.mean(per_status(jobs, "new_items")) / baseline_s, 3
        ),
        "process_cpu_per_feed_ms": round(measured["process_cpu_s"] / feeds * 1000, 3),
        **measured["redis"],
    }
    print(f"{'measure':<28}{'value':>12}")
    for name, value in figures.items():
        print(f"{name:<28}{value:>12}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
