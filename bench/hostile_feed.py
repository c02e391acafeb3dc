"""Hostile-feed benchmark: peak memory and time of one poll of an entity-expansion feed.

The feed of issue 11, item 1: one internal entity of 290 characters (`<!ENTITY a "AAAA…">`)
referenced N times in one item's description (3,000,000 references: a 9 MB body; 300,000: 0.9 MB).
The baseline, measured in the same run, is a benign feed of the same size whose description is
the same number of bytes of plain text.

A fourth case has the same 3,000,000 references with no DTD at all (undeclared entities: not
well-formed, so feedparser falls back to its lenient parser).

Each poll runs in a fresh child interpreter: the real FeedPoller with the real Fetcher against a
local HTTP server in this process and an embedded Redis this bench starts (and stops; it never
touches another Redis). After its imports the child resets its RSS high-water mark (Linux:
`5` to /proc/self/clear_refs) and reads its RSS; after the poll it reads the high-water mark
again (`VmHWM`; `ru_maxrss` where /proc is unavailable). It reports both, the poll's wall time
and its outcome; this process then measures the largest queued item on the stream.

`--code PATH` runs the children against another checkout (e.g. the base commit, to measure the
code before a fix): PATH goes first on their sys.path.

    .venv/bin/python bench/hostile_feed.py [--refs 3000000] [--code /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import redis

ROOT = Path(__file__).resolve().parents[1]

ENTITY_CHARS = 290
REFERENCE = b"&a;"
CHILD_TIMEOUT_S = 1800


def feed_body(description: bytes, doctype: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n' + doctype + b'<rss version="2.0"><channel>'
        b"<title>Hostile</title><link>http://news.example/</link><description>d</description>"
        b"<item><guid>hostile-1</guid><title>One item</title><link>http://news.example/1</link>"
        b"<description>" + description + b"</description></item></channel></rss>"
    )


def hostile_body(references: int) -> bytes:
    # one declaration a line, as feedparser (which keeps "safe" entities) looks for them
    doctype = b'<!DOCTYPE rss [\n<!ENTITY a "' + b"A" * ENTITY_CHARS + b'">\n]>\n'
    return feed_body(REFERENCE * references, doctype)


def undeclared_body(references: int) -> bytes:
    return feed_body(REFERENCE * references)


def benign_body(size: int) -> bytes:
    """Plain text of the same total size as the hostile body (words, so it is text-like)."""
    filler = b"word " * (size // 5 + 1)
    return feed_body(filler[: max(0, size - len(feed_body(b"")))])


class _Bodies(BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


# --- the child: one poll --------------------------------------------------------------------


def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def child(code: str, feed_url: str, redis_url: str, prefix: str) -> None:
    sys.path.insert(0, code)
    import worker

    if Path(worker.__file__).resolve().parents[1] != Path(code).resolve():
        raise SystemExit(f"imported {worker.__file__}, not the checkout {code}")
    import resource
    from dataclasses import dataclass, field

    import redis as redis_module

    from worker.fetching import Fetcher, FetchLimits
    from worker.observability.logging import get_logger
    from worker.polling.poller import FeedPoller, PollPolicy
    from worker.queue.keys import Keys

    @dataclass(frozen=True)
    class Feed:
        url: str
        name: str | None = "hostile"
        interval: float = 900.0
        tags: list[str] = field(default_factory=list)

    client = redis_module.Redis.from_url(redis_url, decode_responses=True)
    limits = FetchLimits(timeout_s=CHILD_TIMEOUT_S, allow_private_addresses=True)
    policy = PollPolicy(jitter=0.0, max_backoff_s=3600.0, seen_retention_s=86400.0)
    reset = _reset_high_water()
    before_kb = (_status_kb("VmRSS") if reset else None) or resource.getrusage(
        resource.RUSAGE_SELF
    ).ru_maxrss
    started = time.perf_counter()
    outcome: dict[str, Any]
    with Fetcher(limits) as fetcher:
        poller = FeedPoller(client, Keys(prefix), fetcher, policy, get_logger(), time.time)
        try:
            polled = poller.poll(Feed(feed_url))
            outcome = {"status": polled.status, "new_items": polled.new_items,
                       "error": polled.error[:120]}  # fmt: skip
        except Exception as exc:  # the base code's failure is part of the measurement
            outcome = {"status": "crashed", "new_items": 0,
                       "error": f"{type(exc).__name__}: {exc}"[:120]}  # fmt: skip
    seconds = time.perf_counter() - started
    peak_kb = (_status_kb("VmHWM") if reset else None) or resource.getrusage(
        resource.RUSAGE_SELF
    ).ru_maxrss
    print(json.dumps({"before_kb": before_kb, "peak_kb": peak_kb, "seconds": seconds, **outcome}))


# --- the parent -----------------------------------------------------------------------------


def run_child(code: str, feed_url: str, redis_url: str, prefix: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", code, feed_url, redis_url, prefix]
    try:
        done = subprocess.run(  # noqa: PLW1510 - the return code is looked at below
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S + 60
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "peak_kb": 0, "before_kb": 0, "seconds": CHILD_TIMEOUT_S}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"status": "died", "error": tail[0][:120], "peak_kb": 0, "before_kb": 0,
                "seconds": 0.0}  # fmt: skip
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def largest_item(client: redis.Redis, prefix: str) -> tuple[int, int]:
    """(entries on the items stream, bytes of the largest), read one entry at a time."""
    stream, start, count, largest = f"{{{prefix}:items}}:stream", "-", 0, 0
    while True:
        batch = client.xrange(stream, min=start, count=1)
        if not batch:
            return count, largest
        entry_id, fields = batch[0]
        count += 1
        largest = max(largest, len(fields.get(b"item", b"")))
        start = "(" + entry_id.decode()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    # Imported here, not at the top: a child must import only the checkout it was given.
    sys.path.insert(0, str(ROOT))
    from worker.queue.embedded import EmbeddedRedis

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=3_000_000)
    parser.add_argument("--code", default=str(ROOT), help="checkout the children import")
    args = parser.parse_args()
    hostile = hostile_body(args.refs)
    small = hostile_body(args.refs // 10)
    cases = {
        "/benign": ("benign, same size (baseline)", benign_body(len(hostile))),
        "/hostile": (f"hostile, {args.refs:,} references", hostile),
        "/hostile-small": (f"hostile, {args.refs // 10:,} references", small),
        "/undeclared": (f"{args.refs:,} undeclared, no DTD", undeclared_body(args.refs)),
    }
    _Bodies.bodies = {path: body for path, (_, body) in cases.items()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bodies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    rows: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="ww-hostile-") as data,
        EmbeddedRedis(Path(data)) as embedded,
    ):
        client = redis.Redis.from_url(embedded.url)
        for number, (path, (label, body)) in enumerate(cases.items()):
            prefix = f"bench{number}"
            result = run_child(args.code, f"http://127.0.0.1:{port}{path}", embedded.url, prefix)
            queued, largest = largest_item(client, prefix)
            rows[path] = {"label": label, "body_bytes": len(body), **result,
                          "queued": queued, "largest_item_bytes": largest}  # fmt: skip
        client.close()
    server.shutdown()
    report(rows, args.code)


def report(rows: dict[str, dict[str, Any]], code: str) -> None:
    print(f"code: {code}")
    header = (f"{'feed':34} {'body MB':>8} {'peak RSS MB':>12} {'poll MB':>8} {'x body':>7} "
              f"{'x baseline':>10} {'time s':>7} {'status':>9} {'queued':>6} {'item MB':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    baseline = rows["/benign"]
    base_growth = max(1, baseline["peak_kb"] - baseline["before_kb"])
    summary: dict[str, Any] = {"bench": "hostile_feed", "code": code}
    for path, row in rows.items():
        growth_kb = max(0, row["peak_kb"] - row["before_kb"])
        times_body = growth_kb * 1024 / row["body_bytes"]
        print(
            f"{row['label']:34} {row['body_bytes'] / 1e6:8.2f} {row['peak_kb'] / 1024:12.1f} "
            f"{growth_kb / 1024:8.1f} {times_body:7.1f} {growth_kb / base_growth:10.2f} "
            f"{row['seconds']:7.2f} {row['status']:>9} {row['queued']:6d} "
            f"{row['largest_item_bytes'] / 1e6:8.2f}"
        )
        if row.get("error"):
            print(f"    {row['error']}")
        summary[path.strip("/")] = {
            "peak_rss_mb": round(row["peak_kb"] / 1024, 1),
            "poll_growth_mb": round(growth_kb / 1024, 1),
            "growth_x_body": round(times_body, 2),
            "growth_x_baseline": round(growth_kb / base_growth, 2),
            "seconds": round(row["seconds"], 2),
            "status": row["status"],
            "largest_item_bytes": row["largest_item_bytes"],
        }
    print("poll MB: peak RSS minus RSS before the poll; x body: that over the body's size")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
