"""Hot reload of watchlists: shared through Redis, validated first, last good set kept."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import redis
import yaml

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.roles import StderrTail, stop, wait_until
from tests.support.site import mount_seed_site
from worker.config.watch import config_signature
from worker.errors import QueryError
from worker.observability.logging import get_logger
from worker.pipeline.watchlists import SharedWatchlists
from worker.queue.keys import Keys


class Row:
    def __init__(self, id: str, query: str) -> None:
        self.id, self.name, self.query, self.notify = id, id, query, []


def shared(client: redis.Redis, keys: Keys, now: list[float]) -> SharedWatchlists:
    return SharedWatchlists(client, keys, get_logger(), clock=lambda: now[0])


def test_a_published_set_reaches_another_worker_after_its_next_check(
    client: redis.Redis, keys: Keys
) -> None:
    now = [0.0]
    publisher, worker = shared(client, keys, now), shared(client, keys, now)
    publisher.publish([Row("a", "NATO")])
    assert worker.current().matcher.rule_ids == ("a",)

    version = publisher.publish([Row("a", "NATO"), Row("b", "Taiwan")])
    assert worker.current().matcher.rule_ids == ("a",), "not checked again within a second"
    now[0] += 1.5
    assert worker.current().version == version
    assert worker.current().matcher.rule_ids == ("a", "b")


def test_publishing_the_same_set_again_keeps_its_version(client: redis.Redis, keys: Keys) -> None:
    publisher = shared(client, keys, [0.0])
    first = publisher.publish([Row("a", "NATO")])
    assert publisher.publish([Row("a", "NATO")]) == first


def test_a_broken_query_is_never_published(client: redis.Redis, keys: Keys) -> None:
    now = [0.0]
    publisher = shared(client, keys, now)
    publisher.publish([Row("a", "NATO")])
    with pytest.raises(QueryError):
        publisher.publish([Row("a", "NATO AND (")])
    now[0] += 5
    assert publisher.current().matcher.rule_ids == ("a",)


def test_a_worker_keeps_its_last_good_set_when_a_published_one_does_not_compile(
    client: redis.Redis, keys: Keys
) -> None:
    now = [0.0]
    worker = shared(client, keys, now)
    worker.publish([Row("a", "NATO")])
    client.hset(
        keys.watchlists,
        mapping={
            "version": 99,
            "payload": json.dumps([{"id": "x", "name": "x", "query": "((", "notify": []}]),
        },
    )
    now[0] += 5
    assert worker.current().matcher.rule_ids == ("a",)


def test_config_signature_changes_when_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("feeds: []\n")
    before = config_signature(tmp_path)
    time.sleep(0.01)
    (tmp_path / "a.yaml").write_text("feeds: []\nwatchlists: []\n")
    assert config_signature(tmp_path) != before


def published_ids(client: redis.Redis, keys: Keys) -> list[str]:
    payload = client.hget(keys.watchlists, "payload")
    return sorted(row["id"] for row in json.loads(payload or "[]"))


def edit_watchlists(config: Path, watchlists: list[dict]) -> None:
    data = yaml.safe_load(config.read_text())
    data["watchlists"] = watchlists
    time.sleep(0.02)  # a distinct modification time
    config.write_text(yaml.safe_dump(data))


def test_running_workers_follow_a_config_edit_and_ignore_a_broken_one(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    keys = Keys(prefix)
    config = write_config(tmp_path, prefix, [site["feed"]])
    edit_watchlists(config, [{"id": "olympics", "query": "Olympics"}])
    worker = start_cli("worker", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: published_ids(client, keys) == ["olympics"], timeout=60)

    edit_watchlists(
        config, [{"id": "olympics", "query": "Olympics"}, {"id": "nato", "query": "NATO"}]
    )
    assert wait_until(lambda: published_ids(client, keys) == ["nato", "olympics"], timeout=30)
    edit_watchlists(config, [{"id": "nato", "query": "NATO AND ("}])
    time.sleep(4)  # two watch intervals: the broken file is seen and refused
    assert published_ids(client, keys) == ["nato", "olympics"]

    log = stop(worker)
    assert "config_reload_failed" in log


def loaded_versions(tail: StderrTail) -> list[int]:
    """The watchlist set versions a worker has logged loading so far."""
    return [
        json.loads(line)["version"] for line in list(tail.lines) if '"watchlists_loaded"' in line
    ]


def switched_after_start(tail: StderrTail) -> bool:
    return max(loaded_versions(tail), default=0) >= 2


def test_sighup_and_the_reload_command_switch_every_worker(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    keys = Keys(prefix)
    config = write_config(tmp_path, prefix, [site["feed"]])
    workers = [
        StderrTail(start_cli("worker", "--config", str(config), redis_url=redis_url))
        for _ in range(2)
    ]
    try:
        assert wait_until(lambda: len(published_ids(client, keys)) == 3, timeout=60)

        (tmp_path / "other").mkdir()
        other = write_config(tmp_path / "other", prefix, [])
        edit_watchlists(other, [{"id": "only", "query": "Taiwan"}])
        reload = run_cli("reload", "--config", str(other), redis_url=redis_url)
        assert reload.returncode == 0, reload.stderr
        assert published_ids(client, keys) == ["only"]
        # Every running worker switches to the published set (it checks about once a second).
        assert wait_until(lambda: all(map(switched_after_start, workers)), timeout=60)

        workers[0].process.send_signal(signal.SIGHUP)  # its own config again
        assert wait_until(lambda: len(published_ids(client, keys)) == 3, timeout=30)
        newest = int(client.hget(keys.watchlists, "version") or 0)
        assert wait_until(lambda: max(loaded_versions(workers[1])) >= newest, timeout=60)
    finally:
        logs = [worker.stop() for worker in workers]
    assert all("Traceback" not in log for log in logs), logs
