"""Operator commands from the CLI: dlq list/replay, status, endpoint enable."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import Receiver, mount_seed_site
from worker.queue.keys import Keys

FAST_DEATH = {"retry_schedule": ["1s"], "timeout": "5s", "jitter": 0.0, "breaker_threshold": 50}


def test_dead_deliveries_are_listed_with_reasons_and_replayed_once_the_endpoint_is_back(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(then=502)
    config = str(
        write_config(
            tmp_path, prefix, [site["feed"]], server.route("/hook", receiver), delivery=FAST_DEATH
        )
    )
    assert run_cli("run", "--once", "--config", config, redis_url=redis_url).returncode == 3
    assert len(receiver.received) == 8

    listing = run_cli("dlq", "list", "--config", config, redis_url=redis_url)
    lines = [
        json.loads(line)
        for line in run_cli(
            "dlq", "list", "--json", "--config", config, redis_url=redis_url
        ).stdout.splitlines()
    ]
    assert listing.returncode == 0 and "4 dead letter(s)" in listing.stdout
    assert {(d["kind"], d["reason"]) for d in lines} == {("delivery", "HTTP 502")}

    receiver.then = 200
    replay = run_cli("dlq", "replay", "--all", "--config", config, redis_url=redis_url)
    assert replay.returncode == 0 and "replayed 4" in replay.stdout
    assert run_cli("run", "--once", "--config", config, redis_url=redis_url).returncode == 0

    delivered = [r.headers["webhook-id"] for r in receiver.received[8:]]
    assert len(delivered) == 4 and len(set(delivered)) == 4
    assert client.xlen(Keys(prefix).deliveries_dead) == 0


def test_replaying_an_unknown_id_fails_and_says_so(
    tmp_path: Path, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    config = str(write_config(tmp_path, prefix, []))
    result = run_cli("dlq", "replay", "--id", "items/1-0", "--config", config, redis_url=redis_url)
    assert result.returncode == 1
    assert "not found: items/1-0" in result.stderr


def test_status_reports_streams_endpoints_and_the_oldest_undelivered_alert(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(then=500)
    slow_retries = {"retry_schedule": ["1h"], "timeout": "5s", "jitter": 0.0}
    config = str(
        write_config(
            tmp_path, prefix, [site["feed"]], server.route("/hook", receiver), delivery=slow_retries
        )
    )
    assert run_cli("run", "--once", "--config", config, redis_url=redis_url).returncode == 3

    report = json.loads(run_cli("status", "--json", "--config", config, redis_url=redis_url).stdout)
    text = run_cli("status", "--config", config, redis_url=redis_url).stdout

    assert report["items"]["length"] == 0 and report["items"]["pending"] == 0, "acked: trimmed"
    assert report["alerts"]["length"] == 0 and report["alerts"]["undelivered"] == 0
    [endpoint] = report["endpoints"]
    assert endpoint["endpoint"] == "hook" and endpoint["queued"] == 4
    assert endpoint["last_error"] == "HTTP 500" and endpoint["consecutive_failures"] == 4
    assert report["oldest_undelivered_alert_age_s"] is not None
    assert "endpoint hook: closed, 4 queued" in text


def test_an_endpoint_disabled_by_410_can_be_enabled_again(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(statuses=[410])
    config = str(
        write_config(
            tmp_path,
            prefix,
            [site["feed"]],
            server.route("/hook", receiver),
            delivery=FAST_DEATH | {"concurrency": 1},
        )
    )
    assert run_cli("run", "--once", "--config", config, redis_url=redis_url).returncode == 3
    assert len(receiver.received) == 1

    enabled = run_cli("endpoint", "enable", "hook", "--config", config, redis_url=redis_url)
    run_cli("dlq", "replay", "--all", "--config", config, redis_url=redis_url)
    assert run_cli("run", "--once", "--config", config, redis_url=redis_url).returncode == 0

    assert enabled.returncode == 0
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 4
    assert client.xlen(Keys(prefix).deliveries_dead) == 0
