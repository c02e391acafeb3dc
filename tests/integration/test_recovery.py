"""Recovery as a user meets it: a whole `wirewatch run` SIGKILLed mid-stream, then `run --once`.

The real CLI in subprocesses, a local feed of slow article pages and a local webhook receiver.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis

from tests.support.cli import cli_env, run_cli, write_config
from tests.support.httpserver import LocalServer, Request, Response
from tests.support.roles import wait_until
from tests.support.site import FeedEntry, Receiver, article_html, html_headers, rss
from worker.alerts.index import AlertIndex
from worker.queue.keys import ALERTS_GROUP, ITEMS_GROUP, Keys

ARTICLES = 40
KILL_AFTER_DELIVERIES = 8
WORDS = [
    "ministers",
    "harbour",
    "council",
    "budget",
    "railway",
    "summit",
    "drought",
    "vaccine",
    "border",
    "election",
    "tariff",
    "satellite",
    "reactor",
    "glacier",
    "harvest",
    "pension",
    "corridor",
    "frigate",
    "pipeline",
    "census",
]


def distinct_text(seed: str) -> list[str]:
    """A NATO article unlike the others (near-duplicate detection must not merge them)."""
    rng = random.Random(seed)
    return [
        f"NATO story {seed}: " + " ".join(rng.choice(WORDS) for _ in range(60)) + "."
        for _ in range(3)
    ]


def mount_slow_nato_site(server: LocalServer, count: int, delay_s: float, path: str = "") -> str:
    """`count` distinct NATO articles behind pages answering after `delay_s`, and their feed
    at `<path>/nato.xml` (several feeds: one `path` each)."""
    entries = []
    for i in range(count):
        body = article_html(f"NATO story {path}{i}", distinct_text(f"{path}{i}"))

        def page(_: Request, body: bytes = body) -> Response:
            time.sleep(delay_s)
            return Response(200, body, html_headers())

        server.route(f"{path}/a/{i}", page)
        link = server.url(f"{path}/a/{i}")
        entries.append(FeedEntry(f"g{path}{i}", f"NATO story {path}{i}", link))
    feed = Response(200, rss(entries), {"Content-Type": "application/rss+xml"})
    return server.route(f"{path}/nato.xml", feed)


def start_run_in_own_group(config: Path, redis_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "run", "--config", str(config)],
        env=cli_env(redis_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed whole, as a user's Ctrl-\\ would
    )


def pending(client: redis.Redis, stream: str, group: str) -> int:
    return int(client.xpending(stream, group)["pending"])


def test_a_sigkilled_run_then_run_once_alerts_every_article_once(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_slow_nato_site(server, ARTICLES, delay_s=0.3)
    receiver = Receiver()
    hook = server.route("/hook", receiver)
    only_nato = [{"id": "nato", "query": "NATO", "notify": ["hook"]}]
    polite_enough = {"host_min_spacing": "0s", "host_max_concurrent": 8}  # one local host
    config = write_config(
        tmp_path, prefix, [feed], hook, watchlists=only_nato, scheduler=polite_enough
    )
    keys = Keys(prefix)

    service = start_run_in_own_group(config, redis_url)
    try:
        assert wait_until(lambda: len(receiver.received) >= KILL_AFTER_DELIVERIES, timeout=120)
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait(timeout=30)
    delivered_before = len(receiver.received)
    assert delivered_before < ARTICLES, "the kill came mid-stream"

    started = time.monotonic()
    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url, timeout=300)
    print(f"run --once took {time.monotonic() - started:.1f}s")

    assert result.returncode == 0, result.stderr[-3000:]
    # The alerts stream is trimmed once acked; the notifiers' alert index keeps every alert.
    alerts = [a["id"] for a in AlertIndex(client, keys, 86400, 10**6).recent(0)]
    assert len(alerts) == ARTICLES == len(set(alerts)), "every article alerted, once"
    ids = [r.headers["webhook-id"] for r in receiver.received]
    alert_of_id = {
        r.headers["webhook-id"]: json.loads(r.body)["data"]["alert_id"] for r in receiver.received
    }
    assert set(alert_of_id.values()) == set(alerts), "every alert arrived"
    assert len(alert_of_id) == ARTICLES, "each alert under exactly one webhook-id"
    repeats = sum(n - 1 for n in Counter(ids).values())
    # Only a request in flight at the kill can arrive twice (same webhook-id), at most one per
    # sending slot of the endpoint.
    assert repeats <= 4, f"{repeats} repeated deliveries"
    print(f"delivered before the kill: {delivered_before}; repeated deliveries: {repeats}")
    assert pending(client, keys.items_stream, ITEMS_GROUP) == 0
    assert pending(client, keys.alerts_stream, ALERTS_GROUP) == 0
    assert client.hlen(keys.deliveries) == 0
    consumers = {c["name"] for c in client.xinfo_consumers(keys.items_stream, ITEMS_GROUP)}
    assert consumers == set(), f"dead and finished instances left the group: {consumers}"
