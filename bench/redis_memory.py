"""Redis memory under steady load: flat once the dedupe window is full.

A steady stream of new articles goes through the real pipeline against its own embedded Redis:
local feeds (each showing its latest 30 entries, new ones arriving round-robin) polled every
tick by the scheduler's poller, every item processed by the worker's code (exact dedupe,
stories, watchlists: about one article in ten alerts) and every alert delivered by the
notifier's code to a local webhook receiver. `used_memory` is sampled every tick.

Shortened so it runs in minutes: a dedupe window of `--window` seconds (default 30; the real
default is 7 days) and `--windows` of them (default 6; the issue's soak ran 2 hours at 1.5
articles/s). Everything the window bounds (dedupe keys, stories, alert markers) then turns over
six times; what it does not bound (stream entries, the seen-entry index) would show as growth.

Two runs in one process, each on a fresh Redis:
- `bounded`: this version (streams trimmed of what every group acked, the seen-entry index cut
  per feed to what the feed can still show);
- `baseline`: the same, with both switched off as before (reads never trim, no per-feed cut).
  (The alert entries' second JSON copy, also gone in this version, is not put back here.)

Steady state begins after two windows (the window full, its stories' last slot expired, and
the seen-entry index full). Flatness: the median used_memory of each later window against the
first one's (`drift`: the largest difference); `spread` is (max - min) / median of every sample
since, which also holds the saw-tooth of story slots expiring whole (1/7 of the window each)
and of trims every 5 s. Cost per article: the steady used_memory above the empty server's,
divided by the articles one window holds; per day of window, at R articles a day, R times it.

Usage: .venv/bin/python bench/redis_memory.py [--window 30] [--windows 6] [--rate 10]
Prints a table, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import worker.polling.poller as poller_module
from worker.config import load_config
from worker.observability.logging import configure_logging
from worker.queue.embedded import EmbeddedRedis
from worker.roles.notifier import NotifierRole
from worker.roles.runtime import Runtime
from worker.roles.scheduler import build_poller, poll_feeds_once
from worker.roles.worker import WorkerRole

FEEDS = 5  # each keeps 100 seen entries: the index is full after 500 articles
BODY = 30  # entries a feed shows
TRIAL_RATE_PER_DAY = 1.5 * 86400  # the soak: 1.5 articles/s
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WORDS = [
    "minister",
    "council",
    "harbour",
    "election",
    "budget",
    "river",
    "market",
    "treaty",
    "summit",
    "energy",
    "railway",
    "court",
    "festival",
    "museum",
    "drought",
    "vaccine",
    "orbit",
    "glacier",
    "tariff",
    "strike",
    "parliament",
    "coalition",
    "airport",
    "bridge",
    "harvest",
    "reactor",
    "satellite",
    "embassy",
    "ceasefire",
    "pipeline",
]


class Site:
    """The feeds' latest entries, grown a few articles at a time, and a webhook receiver."""

    def __init__(self, feeds: int, seed: int) -> None:
        self.entries: list[list[str]] = [[] for _ in range(feeds)]
        self.count = 0
        self.delivered = 0
        self.rand = random.Random(seed)
        self.lock = threading.Lock()

    def publish(self, count: int) -> None:
        with self.lock:
            for _ in range(count):
                n = self.count
                self.count += 1
                self.entries[n % len(self.entries)].insert(0, self.item(n))
                del self.entries[n % len(self.entries)][BODY:]

    def item(self, n: int) -> str:
        words = [self.rand.choice(WORDS) for _ in range(60)]
        if n % 10 == 0:
            words[7] = "NATO"
        text = " ".join(words)
        return (
            f"<item><guid>urn:bench:{n}</guid><title>Story {n}: {' '.join(words[:6])}</title>"
            f"<description>{text}</description></item>"
        )

    def feed(self, index: int) -> bytes:
        with self.lock:
            items = "".join(self.entries[index])
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {index}</title>'
            f"{items}</channel></rss>"
        ).encode()


@contextmanager
def serving(site: Site) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = site.feed(int(self.path.rsplit("/", 1)[1]))
            self._answer(body, "application/rss+xml")

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with site.lock:
                site.delivered += 1
            self._answer(b"ok", "text/plain")

        def _answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(directory: Path, base: str, window_s: float) -> Path:
    config = {
        "redis_prefix": "bench",
        "data_dir": str(directory / "data"),
        "feeds": [{"url": f"{base}/feed/{i}", "interval": "30s"} for i in range(FEEDS)],
        "watchlists": [{"id": "nato", "name": "NATO", "query": "NATO", "notify": ["hook"]}],
        "webhooks": [{"id": "hook", "url": f"{base}/hook", "secret": SECRET}],
        "fetch": {"allow_private_addresses": True},
        "scheduler": {"host_max_concurrent": 32, "host_min_spacing": "0s"},
        "dedupe": {"window": f"{window_s:g}s", "index_buckets": 16},
        "log": {"level": "warning", "format": "json"},
    }
    path = directory / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(name: str, bounded: bool, window_s: float, windows: int, rate: float) -> dict[str, Any]:
    site = Site(FEEDS, seed=7)
    keep_rule = poller_module.entries_to_keep
    if not bounded:  # as before: no per-feed cut of the seen-entry index
        poller_module.entries_to_keep = lambda body_entries: 0
    with tempfile.TemporaryDirectory() as tmp, serving(site) as base:
        settings = load_config(write_config(Path(tmp), base, window_s), {})
        configure_logging(settings.log.level, settings.log.format)
        with EmbeddedRedis(Path(tmp) / "redis") as server:
            rt = Runtime.open(settings, server.url)
            try:
                samples, articles = steady_load(rt, site, bounded, window_s * windows, rate)
            finally:
                rt.close()
                poller_module.entries_to_keep = keep_rule
    return figures(name, samples, articles, window_s) | {"delivered": site.delivered}


Sample = tuple[float, int, int]  # seconds since the start, used_memory, articles published


def steady_load(
    rt: Runtime, site: Site, bounded: bool, duration_s: float, rate: float
) -> tuple[list[Sample], int]:
    poller, gate = build_poller(rt), rt.host_gate()
    loop, notifying = WorkerRole.build(rt).loop, NotifierRole.build(rt)
    if not bounded:  # as before: reads never trim the streams
        loop.consumer.trim_every_s = notifying.consumer.trim_every_s = float("inf")
    start = time.monotonic()
    samples = [(0.0, used_memory(rt), 0)]
    tick = 0
    while (elapsed := time.monotonic() - start) < duration_s:
        site.publish(round(rate * (tick + 1)) - round(rate * tick))
        poll_feeds_once(poller, rt.settings.feeds, gate, 16)
        loop.run_until_drained()
        notifying.run_once()
        samples.append((elapsed, used_memory(rt), site.count))
        tick += 1
        time.sleep(max(0.0, start + tick - time.monotonic()))
    return samples, site.count


def used_memory(rt: Runtime) -> int:
    info: Any = rt.client.info("memory")
    return int(info["used_memory"])


def figures(name: str, samples: list[Sample], articles: int, window_s: float) -> dict[str, Any]:
    """On a busy machine a tick can run late (fewer articles than `--rate` asks), so the
    articles one window holds are counted: those published during the last window."""
    empty = samples[0][1]
    steady = [m for t, m, _ in samples if t >= 2 * window_s]
    median = statistics.median(steady)
    medians = window_medians(samples, window_s)
    drift = max((m / medians[0] - 1 for m in medians), key=abs)
    end, _, published = samples[-1]
    in_window = published - max(n for t, _, n in samples if t <= end - window_s)
    per_article = (median - empty) / in_window
    return {
        "run": name,
        "articles": articles,
        "articles_per_window": in_window,
        "used_memory_empty": empty,
        "used_memory_median": round(median),
        "window_medians": [round(m) for m in medians],
        "spread": round((max(steady) - min(steady)) / median, 4),
        "drift": round(drift, 4),
        "bytes_per_article": round(per_article),
        "mb_per_day_of_window_at_trial_rate": round(per_article * TRIAL_RATE_PER_DAY / 1e6, 1),
    }


def window_medians(samples: list[Sample], window_s: float) -> list[float]:
    """The median used_memory of each whole window from the third on (the steady state)."""
    windows = int(samples[-1][0] // window_s)
    return [
        statistics.median(m for t, m, _ in samples if n * window_s <= t < (n + 1) * window_s)
        for n in range(2, max(windows, 3))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=30.0, help="dedupe window, seconds")
    parser.add_argument("--windows", type=int, default=6, help="run length, in windows")
    parser.add_argument("--rate", type=float, default=10.0, help="new articles per second")
    args = parser.parse_args()
    results = [
        run("baseline", False, args.window, args.windows, args.rate),
        run("bounded", True, args.window, args.windows, args.rate),
    ]
    header = (f"{'run':<9} {'articles':>8} {'empty':>9} {'median':>10} {'spread':>7} "
              f"{'drift':>7} {'B/article':>9} {'MB/day of window @1.5/s':>24}")  # fmt: skip
    print(header)
    for r in results:
        print(
            f"{r['run']:<9} {r['articles']:>8} {r['used_memory_empty']:>9} "
            f"{r['used_memory_median']:>10} {r['spread']:>7.1%} {r['drift']:>7.1%} "
            f"{r['bytes_per_article']:>9} {r['mb_per_day_of_window_at_trial_rate']:>24}"
        )
    baseline, bounded = results
    summary = {
        "window_s": args.window,
        "windows": args.windows,
        "rate_per_s": args.rate,
        "runs": results,
        "drift_ratio_baseline_over_bounded": round(
            (1 + baseline["drift"]) / (1 + bounded["drift"]), 3
        ),
        "flat_within_10pct": abs(bounded["drift"]) <= 0.10,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
