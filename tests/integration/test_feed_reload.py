"""Hot reload of the scheduler's feeds: added, removed and changed feeds without a restart."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.support.cli import start_cli, write_config
from tests.support.feeds import Feed
from tests.support.httpserver import LocalServer, Request, Response
from tests.support.roles import StderrTail, wait_until
from worker.config import load_config
from worker.config.watch import ConfigFileWatcher, config_signature
from worker.fetching import Fetcher, FetchLimits
from worker.fetching.politeness import HostGate, HostLimit
from worker.observability.logging import get_logger
from worker.polling.poller import FeedPoller, PollPolicy
from worker.polling.reload import feed_list_applier
from worker.polling.scheduler import FeedChanges, FeedScheduler
from worker.queue.embedded import EmbeddedRedis
from worker.queue.keys import Keys


def rss(label: str, seconds_apart: float = 1.0, count: int = 5) -> bytes:
    """A feed publishing every `seconds_apart` (so an adaptive scheduler polls it that often)."""
    base = datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp()
    items = "".join(
        f"<item><guid>{label}-{i}</guid><title>{label} {i}</title>"
        f"<link>http://example.invalid/{label}/{i}</link>"
        f"<pubDate>{format_datetime(datetime.fromtimestamp(base - i * seconds_apart, UTC))}"
        "</pubDate></item>"
        for i in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{label}</title>{items}'
        "</channel></rss>"
    ).encode()


class Counting:
    """A feed route that counts the requests it answers."""

    def __init__(self, label: str) -> None:
        self.body = rss(label)
        self.lock = threading.Lock()
        self.count = 0

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.count += 1
        return Response(200, self.body)


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as f:
        yield f


def fast_scheduler(
    client: redis.Redis, keys: Keys, fetcher: Fetcher, feeds: list[Feed]
) -> FeedScheduler:
    """A scheduler polling each feed at its configured interval exactly (no jitter, no rhythm)."""
    policy = PollPolicy(
        jitter=0.0, max_backoff_s=60.0, seen_retention_s=3600.0, min_interval_s=1.0,
        max_interval_s=3600.0, adaptive=False,
    )  # fmt: skip
    poller = FeedPoller(client, keys, fetcher, policy, get_logger(), time.time)
    gate = HostGate(client, keys, default=HostLimit(16, 0.0))
    return FeedScheduler(
        poller, feeds, get_logger(), time.time, gate=gate, concurrency=4, start_spread_s=0.2
    )


def polled_gap(client: redis.Redis, keys: Keys, url: str) -> float:
    """Seconds from a feed's last successful poll to its next one, as that poll set them."""
    state = client.hgetall(keys.feed_state(url))
    if "next_poll" not in state or "last_success" not in state:
        return 0.0
    return float(state["next_poll"]) - float(state["last_success"])


def test_replace_feeds_adds_drops_and_changes_feeds_of_a_running_scheduler(
    server: LocalServer, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    routes = {label: Counting(label) for label in "abc"}
    urls = {label: server.route(f"/{label}", route) for label, route in routes.items()}
    scheduler = fast_scheduler(
        client, keys, fetcher, [Feed(urls["a"], interval=1.0), Feed(urls["b"], interval=1.0)]
    )
    scheduler.start()
    try:
        assert wait_until(lambda: routes["a"].count >= 2 and routes["b"].count >= 2, timeout=30)
        assert routes["c"].count == 0

        changes = scheduler.replace_feeds(
            [
                Feed(urls["a"], interval=1.0),
                Feed(urls["b"], name="b2", interval=7.0),
                Feed(urls["c"], interval=1.0),
            ]
        )
        assert changes == FeedChanges(added=1, removed=0, changed=1)
        assert wait_until(lambda: routes["c"].count >= 2, timeout=30), "added feed not polled"
        # The poll after the change sets the next one 7 s on (1 s before it; no jitter).
        assert wait_until(lambda: polled_gap(client, keys, urls["b"]) == 7.0, timeout=30)

        changes = scheduler.replace_feeds(
            [Feed(urls["b"], name="b2", interval=7.0), Feed(urls["c"], interval=1.0)]
        )
        assert changes == FeedChanges(added=0, removed=1, changed=0)
        removed_at = routes["a"].count
        # Its timer entry comes due within a second and is dropped, not polled.
        assert wait_until(lambda: urls["a"] not in scheduler._timed, timeout=30)
        seen_c = routes["c"].count
        assert wait_until(lambda: routes["c"].count >= seen_c + 3, timeout=30)
        assert routes["a"].count <= removed_at + 1, "a removed feed is still polled"

        # Added back: polled again, on one timer entry only.
        changes = scheduler.replace_feeds(
            [Feed(urls["a"], interval=1.0), Feed(urls["c"], interval=1.0)]
        )
        assert changes == FeedChanges(added=1, removed=1, changed=0)
        back_at = routes["a"].count
        assert wait_until(lambda: routes["a"].count >= back_at + 2, timeout=30)
        with scheduler._lock:
            entries = [url for _, _, url in scheduler._due].count(urls["a"])
        assert entries <= 1
    finally:
        scheduler.stop()


# -- a real scheduler process following its config file ---------------------------------------
def edit_config(config: Path, feeds: list[dict[str, Any]], **sections: Any) -> None:
    data = yaml.safe_load(config.read_text())
    data["feeds"] = feeds
    data.update(sections)
    time.sleep(0.02)  # a distinct modification time
    config.write_text(yaml.safe_dump(data))


def feed_row(url: str, name: str) -> dict[str, Any]:
    return {"url": url, "name": name, "interval": "5m"}


def events(tail: StderrTail, name: str) -> list[dict[str, Any]]:
    found = []
    for line in list(tail.lines):
        if f'"{name}"' in line:
            record = json.loads(line)
            if record.get("event") == name:
                found.append(record)
    return found


def queued_labels(client: redis.Redis, keys: Keys) -> set[str]:
    """Which test feeds have entries in the items stream (from their links)."""
    reply: list[tuple[str, dict[str, str]]] = client.xrange(keys.items_stream)  # type: ignore[assignment]
    return {label for _, fields in reply for label in "abc" if f"/{label}/" in fields["item"]}


def reload_counts(record: dict[str, Any]) -> tuple[int, int, int]:
    return record["added"], record["removed"], record["changed"]


def test_a_running_scheduler_follows_feed_edits_sighup_and_ignores_a_broken_config(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    keys = Keys(prefix)
    routes = {label: Counting(label) for label in "abc"}
    urls = {label: server.route(f"/{label}", route) for label, route in routes.items()}
    # Entries a second apart and a 1 s lower bound: each feed is polled about every second.
    fast = {"min_interval": "1s", "host_min_spacing": 0}
    config = write_config(tmp_path, prefix, [urls["a"]], scheduler=fast)
    tail = StderrTail(start_cli("scheduler", "--config", str(config), redis_url=redis_url))
    try:
        assert wait_until(lambda: routes["a"].count >= 2, timeout=60)
        assert queued_labels(client, keys) == {"a"}

        # Added: its entries are queued without a restart.
        edit_config(config, [feed_row(urls["a"], "feed0"), feed_row(urls["b"], "b")])
        assert wait_until(lambda: "b" in queued_labels(client, keys), timeout=30)
        assert reload_counts(events(tail, "feeds_reloaded")[-1]) == (1, 0, 0)

        # Removed: no longer fetched (one poll already running may finish).
        edit_config(config, [feed_row(urls["b"], "b")])
        assert wait_until(lambda: len(events(tail, "feeds_reloaded")) == 2, timeout=30)
        assert reload_counts(events(tail, "feeds_reloaded")[-1]) == (0, 1, 0)
        removed_at, seen_b = routes["a"].count, routes["b"].count
        assert wait_until(lambda: routes["b"].count >= seen_b + 4, timeout=60)
        assert routes["a"].count <= removed_at + 1, "a removed feed is still fetched"

        # Broken: refused, and the feeds in force keep being polled.
        edit_config(config, [feed_row("not a url", "bad"), feed_row(urls["c"], "c")])
        assert wait_until(lambda: len(events(tail, "config_reload_failed")) == 1, timeout=30)
        seen_b = routes["b"].count
        assert wait_until(lambda: routes["b"].count >= seen_b + 2, timeout=60)
        assert routes["c"].count == 0 and tail.process.poll() is None

        # Fixed, with a setting that needs a restart: the feeds apply, the setting is named.
        edit_config(
            config,
            [feed_row(urls["b"], "b"), feed_row(urls["c"], "c")],
            scheduler={**fast, "concurrency": 3},
        )
        assert wait_until(lambda: "c" in queued_labels(client, keys), timeout=30)
        assert reload_counts(events(tail, "feeds_reloaded")[-1]) == (1, 0, 0)
        assert events(tail, "config_reload_needs_restart")[-1]["settings"] == ["scheduler"]

        # SIGHUP reloads the unchanged files.
        tail.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: len(events(tail, "feeds_reloaded")) == 4, timeout=30)
        assert reload_counts(events(tail, "feeds_reloaded")[-1]) == (0, 0, 0)
        assert tail.process.poll() is None
    finally:
        log = tail.stop()
    assert "Traceback" not in log, log


def test_a_reload_that_failed_on_redis_is_retried_without_another_edit(tmp_path: Path) -> None:
    """Redis was away when an edit was seen: the added feed must still be taken up once Redis is
    back, not only at the next edit or SIGHUP (until then its entries would go unpolled)."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
    stop = threading.Event()
    try:
        config = write_config(tmp_path, "retry", ["http://127.0.0.1:9/a"])
        running = load_config(config, {})
        with Fetcher(FetchLimits(timeout_s=5, allow_private_addresses=True)) as fetcher:
            scheduler = fast_scheduler(
                client, Keys("retry"), fetcher, [Feed(f.url, interval=1.0) for f in running.feeds]
            )
            watcher = ConfigFileWatcher(
                config, lambda: load_config(config, {}),
                feed_list_applier(scheduler, running, get_logger(), config), get_logger(),
                config_signature(config), interval_s=0.05,
            )  # fmt: skip
            server.stop()
            edit_config(config, [feed_row("http://127.0.0.1:9/a", "a"),
                                 feed_row("http://127.0.0.1:9/b", "b")])  # fmt: skip
            thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
            thread.start()
            time.sleep(0.5)  # several passes over the edit while Redis is away
            assert "http://127.0.0.1:9/b" not in scheduler.feeds
            server.start()
            assert wait_until(lambda: "http://127.0.0.1:9/b" in scheduler.feeds, timeout=10)
            stop.set()
            thread.join(10)
    finally:
        stop.set()
        client.close()
        server.stop()


def test_the_watcher_outlives_a_config_path_it_cannot_stat(
    tmp_path: Path, client: redis.Redis, keys: Keys, fetcher: Fetcher
) -> None:
    """An OSError looking at the files (here a symlink loop; EACCES, ESTALE on NFS) must not end
    the watcher: the feed list would never follow an edit again until a restart."""
    config = write_config(tmp_path, keys.prefix, ["http://127.0.0.1:9/a"])
    text = config.read_text()
    running = load_config(config, {})
    scheduler = fast_scheduler(
        client, keys, fetcher, [Feed(f.url, interval=1.0) for f in running.feeds]
    )
    watcher = ConfigFileWatcher(
        config, lambda: load_config(config, {}),
        feed_list_applier(scheduler, running, get_logger(), config), get_logger(),
        config_signature(config), interval_s=0.05,
    )  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        config.unlink()
        config.symlink_to(config)  # stat() fails with ELOOP
        time.sleep(0.5)
        assert thread.is_alive()
        config.unlink()
        config.write_text(text)
        edit_config(config, [feed_row("http://127.0.0.1:9/a", "a"),
                             feed_row("http://127.0.0.1:9/b", "b")])  # fmt: skip
        assert wait_until(lambda: "http://127.0.0.1:9/b" in scheduler.feeds, timeout=10)
    finally:
        stop.set()
        thread.join(10)
