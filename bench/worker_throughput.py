"""Worker throughput: one real worker over the 181 corpus pages, beside bare trafilatura.

Set-up (not timed): the corpus article pages are served by a local HTTP server in a process of
its own (so serving costs the worker nothing), behind 10 local RSS feeds whose entries carry a
title, an author (`dc:creator`) and a publication time, as most news feeds do: the page's own
title, author and day per trafilatura, noon UTC, "Newsroom" where the page names no author. The
real scheduler polls the feeds once into the bench's own embedded Redis (a fresh key prefix per
round), so the worker gets real queued items.

Timed, in the same process and run, alternating order each round:
- `bare`: `trafilatura.extract(html, url=url)` over the same pages, one after the other (its
  defaults; `bare fast` is the same with `fast=True`, the mode the worker uses);
- `worker`: the real worker role (`WorkerRole`, config defaults: 4 threads, batches of 16, 10
  watchlists, structured logging at info to /dev/null) draining the queued items: fetch over HTTP,
  extraction, exact dedupe, stories, matching, alerts, ack; measured until the stream is drained;
- `worker, feed without metadata`: the same with feed entries that carry no author or time and
  an empty title, so the page is asked for all three (the path of a bare feed).

The figure is the ratio of the worker's articles/s to bare pages/s (goal >= 0.85). Medians over
the rounds; CPU is this process's (all the worker's threads); the embedded Redis's CPU is apart.

Usage: .venv/bin/python bench/worker_throughput.py [--rounds 3] [--redis URL] [--profile FILE]
(--profile: the `worker` passes handle items one by one in one thread under cProfile; their
times then say nothing, the profile says where the time goes.)
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import html
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trafilatura
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchredis import BenchRedis, bench_redis  # noqa: E402
from worker.config.loader import load_config  # noqa: E402
from worker.observability.logging import configure_logging  # noqa: E402
from worker.queue.connection import open_client  # noqa: E402
from worker.roles.runtime import Runtime  # noqa: E402
from worker.roles.scheduler import SchedulerRole  # noqa: E402
from worker.roles.worker import WorkerRole  # noqa: E402

CORPUS = Path(os.environ.get("WIREWATCH_CORPUS") or ROOT.parent / "shared" / "corpus") / "articles"
FEEDS = 10
BARE, BARE_FAST = "bare trafilatura.extract", "bare trafilatura.extract fast"
WATCHLISTS = [
    "NATO", "election", "climate", "police", "Google", "bitcoin", "football", "Olympics",
    "vaccine", "Trump",
]  # fmt: skip


@dataclass(frozen=True)
class Page:
    path: str  # where the local server serves it
    url: str  # the page's original address (bare trafilatura gets it, as the worker does)
    html: bytes
    title: str
    author: str
    published: datetime


def load_pages() -> list[Page]:
    """Every corpus page with ground truth, and the metadata its feed entry will carry."""
    truth = json.loads((CORPUS / "ground-truth.json").read_text())
    pages = []
    for n, (sha, fields) in enumerate(sorted(truth.items())):
        body = gzip.decompress((CORPUS / "html" / f"{sha}.html.gz").read_bytes())
        meta = trafilatura.bare_extraction(body, url=fields["url"], with_metadata=True, fast=True)
        title = (meta.title if meta else "") or f"Article {n}"
        author = (meta.author if meta else "") or "Newsroom"
        day = (meta.date if meta else "") or "2026-11-28"
        published = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        pages.append(Page(f"/a/{n}", fields["url"], body, title, author, published))
    return pages


def rss(pages: list[Page], base: str, with_metadata: bool) -> bytes:
    items = []
    for page in pages:
        link = html.escape(base + page.path)
        title = html.escape(page.title) if with_metadata else ""
        extra = (
            f"<dc:creator>{html.escape(page.author)}</dc:creator>"
            f"<pubDate>{format_datetime(page.published)}</pubDate>"
            if with_metadata
            else ""
        )
        items.append(
            f"<item><guid>{link}</guid><title>{title}</title><link>{link}</link>{extra}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Bench</title>'
        f"<link>{base}/</link><description>b</description>{''.join(items)}</channel></rss>"
    ).encode()


PLACEHOLDER = "127.0.0.1:PORT"  # the feeds' links, before the server knows its port


def serve(routes: dict[str, tuple[str, bytes]], ready: Any) -> None:
    """The local site, in a process of its own: path -> (content type, body). It binds first,
    then writes its port into the feeds' links, then says which port it is on."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            content_type, body = routes.get(self.path, ("text/plain", b""))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    address = f"127.0.0.1:{server.server_address[1]}".encode()
    for path, (content_type, body) in list(routes.items()):
        routes[path] = (content_type, body.replace(PLACEHOLDER.encode(), address))
    ready.put(server.server_address[1])
    server.serve_forever()


def start_site(pages: list[Page]) -> tuple[Any, str]:
    context = multiprocessing.get_context("fork")
    routes = {p.path: ("text/html; charset=utf-8", p.html) for p in pages}
    for with_metadata in (True, False):
        for feed in range(FEEDS):
            body = rss(pages[feed::FEEDS], f"http://{PLACEHOLDER}", with_metadata)
            routes[feed_path(feed, with_metadata)] = ("application/rss+xml", body)
    ready = context.Queue()
    process = context.Process(target=serve, args=(routes, ready), daemon=True)
    process.start()
    port = ready.get(timeout=60)
    return process, f"http://127.0.0.1:{port}"


def feed_path(feed: int, with_metadata: bool) -> str:
    return f"/feed{'m' if with_metadata else 'b'}{feed}.xml"


def write_config(folder: Path, prefix: str, base: str, with_metadata: bool) -> Path:
    config = {
        "redis_prefix": prefix,
        "data_dir": str(folder / "data"),
        "feeds": [
            {"name": f"feed {n}", "url": base + feed_path(n, with_metadata)} for n in range(FEEDS)
        ],
        "watchlists": [{"id": f"w{n}", "query": q} for n, q in enumerate(WATCHLISTS)],
        "fetch": {"allow_private_addresses": True},
        # every page is on one host here; a real deployment spreads its pages over many
        "scheduler": {"host_min_spacing": "0s", "host_max_concurrent": 64},
        "log": {"format": "json", "level": "info"},
    }
    path = folder / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Timing:
    count: int
    wall_s: float
    cpu_s: float
    redis_cpu_s: float = 0.0
    redis_commands: int = 0  # commands Redis processed during the pass (the worker's)
    redis_bytes: int = 0  # network bytes in and out of Redis during the pass

    @property
    def rate(self) -> float:
        return self.count / self.wall_s


def timed(work: Callable[[], int]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    count = work()
    return Timing(count, time.perf_counter() - wall, time.process_time() - cpu)


def bare(pages: list[Page], fast: bool) -> int:
    done = 0
    for page in pages:
        done += trafilatura.extract(page.html, url=page.url, fast=fast) is not None
    return done


def redis_counters(client: Any) -> tuple[float, int, int]:
    """(CPU seconds, commands processed, network bytes in + out) of the Redis server so far."""
    cpu, stats = client.info("cpu"), client.info("stats")
    return (
        float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        int(stats["total_commands_processed"]),
        int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"]),
    )


def worker_pass(
    target: BenchRedis,
    base: str,
    prefix: str,
    with_metadata: bool,
    profile: cProfile.Profile | None,
) -> Timing:
    """Queue the items with the real scheduler (untimed), then time one worker draining them."""
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder), prefix, base, with_metadata)
        settings = load_config(config, {"REDIS_URL": target.url})
        rt = Runtime.open(settings, target.url)
        try:
            polled = SchedulerRole.build(rt).run_once()
            queued = rt.client.xlen(rt.keys.items_stream)
            role = WorkerRole.build(rt)
            before = redis_counters(rt.client)
            if profile is None:
                timing = timed(lambda: role.loop.run_until_drained(0.0))
            else:
                timing = timed(lambda: profiled_drain(role, profile))
            after = redis_counters(rt.client)
            if timing.count != queued or queued == 0:
                raise SystemExit(f"worker processed {timing.count} of {queued} queued ({polled})")
            cpu, commands, traffic = (a - b for a, b in zip(after, before, strict=True))
            return Timing(
                timing.count, timing.wall_s, timing.cpu_s, cpu, int(commands), int(traffic)
            )
        finally:
            rt.close()


def profiled_drain(role: WorkerRole, profile: cProfile.Profile) -> int:
    """The worker's own handling of each entry, in this thread: cProfile sees one thread only,
    so a profiled pass runs the items one after the other (its times are not the figure)."""
    loop = role.loop
    loop.consumer.ensure_group()
    done = 0
    while entries := loop.consumer.read(loop.batch, None):
        for entry in entries:
            profile.enable()
            done += loop.handle(entry)
            profile.disable()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", help="a Redis to use (keys under a prefix of this run)")
    parser.add_argument("--profile", help="write a cProfile of the worker passes here")
    args = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        configure_logging("info", "json", stream=devnull, role="worker")
        run(args, devnull)


def run(args: argparse.Namespace, devnull: Any) -> None:
    pages = load_pages()
    site, base = start_site(pages)
    profile = cProfile.Profile() if args.profile else None
    results: dict[str, list[Timing]] = {}
    try:
        with bench_redis(args.redis) as target:
            client = open_client(target.url)
            trafilatura.extract(pages[0].html, url=pages[0].url)  # warm-up: caches, imports
            # An untimed worker pass first: the first one in a process pays one-off costs
            # (imports, compiled rules and regexes, trafilatura's caches, connections).
            worker_pass(target, base, f"{target.prefix}warm", True, None)
            passes: list[tuple[str, Callable[[int], Timing]]] = [
                (BARE, lambda r: timed(lambda: bare(pages, fast=False))),
                (BARE_FAST, lambda r: timed(lambda: bare(pages, fast=True))),
                (
                    "worker",
                    lambda r: worker_pass(target, base, f"{target.prefix}m{r}", True, profile),
                ),
                (
                    "worker, feed without metadata",
                    lambda r: worker_pass(target, base, f"{target.prefix}b{r}", False, None),
                ),
            ]
            for round_ in range(args.rounds):
                order = passes if round_ % 2 == 0 else list(reversed(passes))
                for name, run_pass in order:
                    results.setdefault(name, []).append(run_pass(round_))
                    print(f"round {round_ + 1} {name}: {results[name][-1]}", file=sys.stderr)
            target.clear(client)
            client.close()
    finally:
        site.terminate()
        site.join()
    if profile is not None:
        profile.dump_stats(args.profile)
    report(results, len(pages), args.rounds)


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(results: dict[str, list[Timing]], pages: int, rounds: int) -> None:
    """Ratios to both bare passes: by wall time (the figure asked for) and by CPU time (what a
    loaded machine disturbs least: the worker's threads and the bare loop share 2 cores with
    other work)."""
    bare_rate = median([t.rate for t in results[BARE]])
    fast_rate = median([t.rate for t in results[BARE_FAST]])
    bare_cpu = median([t.cpu_s / t.count for t in results[BARE]])
    fast_cpu = median([t.cpu_s / t.count for t in results[BARE_FAST]])
    print(f"{pages} corpus pages, {rounds} rounds, medians; CPU = this process (Redis apart)")
    header = (
        f"{'pass':31} {'items/s':>7} {'x bare':>6} {'x fast':>6} {'CPU ms/item':>11}"
        f" {'x bare CPU':>10} {'x fast CPU':>10} {'Redis CPU ms/item':>17}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[str, Any] = {"pages": pages, "rounds": rounds}
    for name, timings in results.items():
        rate = median([t.rate for t in timings])
        cpu = median([t.cpu_s / t.count for t in timings])
        redis_ms = median([t.redis_cpu_s / t.count * 1000 for t in timings])
        print(
            f"{name:31} {rate:7.1f} {rate / bare_rate:6.2f} {rate / fast_rate:6.2f}"
            f" {cpu * 1000:11.1f} {bare_cpu / cpu:10.2f} {fast_cpu / cpu:10.2f} {redis_ms:17.2f}"
        )
        figures[name] = {
            "per_s": round(rate, 2),
            "ratio_wall_vs_bare": round(rate / bare_rate, 3),
            "ratio_wall_vs_bare_fast": round(rate / fast_rate, 3),
            "cpu_ms_per_item": round(cpu * 1000, 2),
            "ratio_cpu_vs_bare": round(bare_cpu / cpu, 3),
            "ratio_cpu_vs_bare_fast": round(fast_cpu / cpu, 3),
            "redis_cpu_ms_per_item": round(redis_ms, 3),
            "redis_commands_per_item": round(
                median([t.redis_commands / t.count for t in timings]), 1
            ),
            "redis_bytes_per_item": round(median([t.redis_bytes / t.count for t in timings])),
            "rates": [round(t.rate, 2) for t in timings],
        }
    for name in (n for n in results if n.startswith("worker")):
        row = figures[name]
        print(
            f"{name}: Redis {row['redis_commands_per_item']} commands and"
            f" {row['redis_bytes_per_item']} bytes (in + out) per item"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
