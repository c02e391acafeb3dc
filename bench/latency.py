"""Latency: from an item's appearance in its feed to its webhook's arrival, pushed and polled.

A running service (`wirewatch run`: scheduler, worker, notifier and websub as child processes of
one supervisor) on the bench's own embedded Redis, a local site (a feed, article pages made of
corpus article bodies, each naming NATO), a local WebSub hub (tests/support/websub.py) and a local
webhook receiver. Items appear one every `--spacing` seconds:

(a) push: the entry is added to the feed and the hub pushes it to the service's callback at once;
(b) poll: the entry is added to the feed, and nothing else happens; the scheduler polls at the
    shortest interval the config allows: the feed's `interval` at its minimum (30 s), and
    `scheduler.min_interval` at its minimum (1 s), which adaptive polling reaches on a feed
    publishing this often (half its publishing rhythm, never under 1 s);
(c) poll-fixed (not in the default modes): the same with `scheduler.adaptive: false`, so the
    feed is polled every 30 s, the shortest fixed interval a feed may have.

Where the time goes, from stamps on one clock (this machine's): appearance (this bench), queued
(the items stream entry's id, Redis time), page fetched (the site's log), alert written (the
alerts stream entry's id), delivered (the receiver). For push, the first step is the push.

Usage: .venv/bin/python bench/latency.py [--items 60] [--spacing 2] [--modes push,poll]
Prints a table per mode, then one line holding a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchredis import BenchRedis, bench_redis  # noqa: E402
from tests.support.httpserver import LocalServer, Request, Response  # noqa: E402
from tests.support.roles import free_port  # noqa: E402
from tests.support.websub import Hub  # noqa: E402
from worker.queue.connection import open_client  # noqa: E402
from worker.queue.keys import Keys  # noqa: E402

CORPUS = Path(os.environ.get("WIREWATCH_CORPUS") or ROOT.parent / "shared" / "corpus") / "articles"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SEED_ENTRIES = 8  # already in the feed at start, one rhythm apart: the feed's rhythm is known
_ITEM = re.compile(r"/p/(\d+)")


def article_bodies(count: int) -> list[str]:
    """`count` distinct real article bodies (the longest of the corpus), so that no two items
    are one story (a story alerts once per watchlist)."""
    truth = json.loads((CORPUS / "ground-truth.json").read_text())
    bodies = sorted((f["articleBody"] for f in truth.values()), key=len, reverse=True)
    if len(bodies) < count:
        raise SystemExit(f"the corpus has {len(bodies)} articles, fewer than {count} items")
    return bodies[:count]


def page(n: int, body: str) -> bytes:
    paragraphs = [p for p in body.split("\n") if p.strip()][:40]
    paragraphs.append(f"NATO ministers discussed item {n} on the alliance's eastern flank.")
    text = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Item {n}</title>"
        f"</head><body><article><h1>Item {n}</h1>{text}</article></body></html>"
    ).encode()


@dataclass
class Entry:
    n: int
    link: str
    published: float  # epoch seconds


@dataclass
class Stamps:
    """Epoch seconds at each step of one item."""

    appeared: float
    queued: float | None = None
    fetched: float | None = None
    alerted: float | None = None
    delivered: float | None = None


@dataclass
class Site:
    """The feed, its pages, the hub and the receiver, and the stamps they take."""

    server: LocalServer
    hub: Hub
    bodies: list[str]
    mode: str
    entries: list[Entry] = field(default_factory=list)
    stamps: dict[int, Stamps] = field(default_factory=dict)
    polls: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mount(self) -> None:
        self.server.route(f"/{self.mode}/feed.xml", self.feed)
        self.server.route(f"/{self.mode}/hook", self.receive)
        for n, body in enumerate(self.bodies):
            self.server.route(f"/{self.mode}/p/{n}", self.page_handler(n, page(n, body)))

    @property
    def feed_url(self) -> str:
        return self.server.url(f"/{self.mode}/feed.xml")

    def atom(self, entries: list[Entry]) -> bytes:
        hub = f'<link rel="hub" href="{self.hub.url}"/>' if self.mode == "push" else ""
        items = "".join(
            f"<entry><id>urn:{self.mode}:{e.n}</id><title>Item {e.n}</title>"
            f"<link href='{html.escape(e.link)}'/><author><name>Bench Desk</name></author>"
            f"<updated>{_iso(e.published)}</updated><published>{_iso(e.published)}</published>"
            "</entry>"
            for e in entries
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>Bench {self.mode}</title><link rel="self" href="{self.feed_url}"/>{hub}'
            f"<updated>{_iso(time.time())}</updated>{items}</feed>"
        ).encode()

    def feed(self, request: Request) -> Response:
        with self.lock:
            self.polls.append(time.time())
            entries = list(self.entries)
        return Response(200, self.atom(entries), {"Content-Type": "application/atom+xml"})

    def page_handler(self, n: int, body: bytes) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            stamps = self.stamps.get(n)
            if stamps is not None and stamps.fetched is None:
                stamps.fetched = time.time()
            return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})

        return serve

    def receive(self, request: Request) -> Response:
        arrived = time.time()
        found = _ITEM.search(request.body.decode("utf-8", "replace"))
        if found:
            stamps = self.stamps.get(int(found.group(1)))
            if stamps is not None and stamps.delivered is None:
                stamps.delivered = arrived
        return Response(200, b"ok")

    def seed(self, spacing: float) -> None:
        """Old entries without a page worth alerting on (their links answer 404)."""
        now = time.time()
        for k in range(SEED_ENTRIES):
            link = self.server.url(f"/{self.mode}/old/{k}")
            self.entries.append(Entry(-1 - k, link, now - (SEED_ENTRIES - k) * spacing))

    def appear(self, n: int) -> None:
        entry = Entry(n, self.server.url(f"/{self.mode}/p/{n}"), time.time())
        with self.lock:
            self.stamps[n] = Stamps(appeared=entry.published)
            self.entries.append(entry)
        if self.mode == "push":
            self.hub.push(self.atom([entry]))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_config(folder: Path, site: Site, prefix: str, websub_port: int) -> Path:
    push, fixed = site.mode == "push", site.mode == "poll-fixed"
    config: dict[str, Any] = {
        "redis_prefix": prefix,
        "data_dir": str(folder / "data"),
        # push: polling is only the fallback; poll: the shortest interval a feed may have
        "feeds": [{"url": site.feed_url, "name": site.mode, "interval": "30m" if push else "30s"}],
        "watchlists": [{"id": "nato", "query": "NATO", "notify": ["hook"]}],
        "webhooks": [
            {"id": "hook", "url": site.server.url(f"/{site.mode}/hook"), "secret": SECRET}
        ],
        "fetch": {"allow_private_addresses": True, "timeout": "10s"},
        # push: no adaptive polling beside the pushes (a busy feed would be polled every second)
        "scheduler": {
            "min_interval": "30m" if push else "1s",
            "host_min_spacing": "0s",
            "jitter": 0.0,
            "adaptive": not fixed,
        },
        "log": {"format": "json", "level": "info"},
    }
    if push:
        config["websub"] = {
            "enabled": True,
            "listen": f"127.0.0.1:{websub_port}",
            "public_url": f"http://127.0.0.1:{websub_port}/websub",
        }
    path = folder / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def watch_streams(client: Any, keys: Keys, site: Site, stop: threading.Event) -> None:
    """Stamp `queued` and `alerted` from the ids of the items and alerts stream entries (the
    milliseconds of Redis's clock when each was written)."""
    cursors = {keys.items_stream: "0-0", keys.alerts_stream: "0-0"}
    while not stop.is_set():
        replies = client.xread(cursors, count=100, block=200) or []
        for stream, entries in replies:
            name = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                cursors[name] = eid
                when = int(eid.split("-")[0]) / 1000
                text = " ".join(str(v) for v in fields.values())
                found = _ITEM.search(text)
                stamps = site.stamps.get(int(found.group(1))) if found else None
                if stamps is None:
                    continue
                if name == keys.items_stream and stamps.queued is None:
                    stamps.queued = when
                elif name == keys.alerts_stream and stamps.alerted is None:
                    stamps.alerted = when


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def run_mode(
    mode: str, target: BenchRedis, server: LocalServer, items: int, spacing: float, folder: Path
) -> dict[str, Any]:
    hub = Hub(server, f"/{mode}/hub")
    site = Site(server, hub, article_bodies(items), mode)
    site.mount()
    site.seed(spacing)
    keys = Keys(f"{target.prefix}{mode}")
    config = write_config(folder, site, keys.prefix, free_port())
    log = (folder / f"{mode}.log").open("w")
    service = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "run", "--config", str(config)],
        env={**os.environ, "REDIS_URL": target.url},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = open_client(target.url)
    stop = threading.Event()
    watcher = threading.Thread(target=watch_streams, args=(client, keys, site, stop), daemon=True)
    watcher.start()
    try:
        ready = (
            (lambda: bool(hub.verifications)) if mode == "push" else (lambda: len(site.polls) > 1)
        )
        if not wait_for(ready, 120):
            raise SystemExit(f"{mode}: the service did not get ready (see {folder}/{mode}.log)")
        time.sleep(3.0)  # the seed entries' processing is done before the clock starts
        for n in range(items):
            site.appear(n)
            time.sleep(spacing)
        done = lambda: all(s.delivered is not None for s in site.stamps.values())  # noqa: E731
        wait_for(done, 90)
    finally:
        stop.set()
        watcher.join()
        service.terminate()
        try:
            service.wait(60)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()
        hub.http.close()
        client.close()
    return summarise(mode, site)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


STEPS = [
    ("appeared -> queued", "appeared", "queued"),
    ("queued -> page fetched", "queued", "fetched"),
    ("page fetched -> alert written", "fetched", "alerted"),
    ("alert written -> delivered", "alerted", "delivered"),
    ("appeared -> delivered", "appeared", "delivered"),
]


def summarise(mode: str, site: Site) -> dict[str, Any]:
    stamps = list(site.stamps.values())
    delivered = [s for s in stamps if s.delivered is not None]
    figures: dict[str, Any] = {"items": len(stamps), "delivered": len(delivered)}
    gaps = [b - a for a, b in zip(site.polls, site.polls[1:], strict=False)]
    figures["polls"] = len(site.polls)
    figures["poll_gap_median_s"] = round(statistics.median(gaps), 2) if gaps else None
    for label, start, end in STEPS:
        values = [
            getattr(s, end) - getattr(s, start)
            for s in stamps
            if getattr(s, start) is not None and getattr(s, end) is not None
        ]
        if values:
            figures[label] = {
                "n": len(values),
                "p50": round(percentile(values, 0.5), 3),
                "p99": round(percentile(values, 0.99), 3),
                "max": round(max(values), 3),
            }
    return figures


def report(results: dict[str, dict[str, Any]]) -> None:
    for mode, figures in results.items():
        print(
            f"\n{mode}: {figures['delivered']} of {figures['items']} items delivered; "
            f"{figures['polls']} polls of the feed, median gap {figures['poll_gap_median_s']} s"
        )
        header = f"{'step':32} {'n':>4} {'p50 s':>8} {'p99 s':>8} {'max s':>8}"
        print(header)
        print("-" * len(header))
        for label, _, _ in STEPS:
            row = figures.get(label)
            if row:
                print(
                    f"{label:32} {row['n']:4} {row['p50']:8.3f} {row['p99']:8.3f} {row['max']:8.3f}"
                )
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between items")
    parser.add_argument("--modes", default="push,poll", help="push, poll, poll-fixed")
    parser.add_argument("--redis", help="a Redis to use (keys under a prefix of this run)")
    args = parser.parse_args()
    results = {}
    with (
        bench_redis(args.redis) as target,
        LocalServer() as server,
        tempfile.TemporaryDirectory(prefix="wirewatch-latency-") as folder,
    ):
        for mode in args.modes.split(","):
            results[mode] = run_mode(mode, target, server, args.items, args.spacing, Path(folder))
        client = open_client(target.url)
        target.clear(client)
        client.close()
    report(results)


if __name__ == "__main__":
    main()
