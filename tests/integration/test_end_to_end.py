"""The whole service from the CLI: a local news site in, signed webhooks out, real Redis."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import redis
import yaml
from standardwebhooks.webhooks import Webhook

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import WEBHOOK_SECRET, Receiver, mount_seed_site
from worker.queue.keys import Keys


def payloads(receiver: Receiver) -> list[dict]:
    verifier = Webhook(WEBHOOK_SECRET)
    return [verifier.verify(r.body, r.headers) for r in receiver.received]


def test_run_once_alerts_each_watchlist_once_with_signed_webhooks(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/hook", receiver))
    settings = yaml.safe_load(config.read_text())
    settings["feeds"][0]["tags"] = ["world", "uk"]
    config.write_text(yaml.safe_dump(settings))

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    received = payloads(receiver)
    by_watchlist = {p["data"]["watchlist"]["id"]: p for p in received}
    assert sorted(p["data"]["watchlist"]["id"] for p in received) == [
        "nato",
        "olympics",
        "olympics",
        "taiwan",
    ]
    nato = by_watchlist["nato"]
    assert nato["type"] == "alert.created"
    article = nato["data"]["article"]
    assert article["url"].endswith("/news/putin-xi?utm_source=rss")
    assert article["canonical_url"].endswith("/news/putin-xi")
    assert "NATO" in article["title"]
    assert article["feed"] == {"url": site["feed"], "name": "feed0", "tags": ["world", "uk"]}
    assert nato["data"]["story"]["articles"] == 1
    assert any(m["text"] == "NATO" for m in nato["data"]["matches"])
    assert all(m["snippet"] for m in nato["data"]["matches"])
    assert server.requests_to("/local/weather"), "the unrelated article was fetched"
    assert all("senator" not in json.dumps(p) for p in received), "no substring false positive"


def test_a_second_run_alerts_nothing_new(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/hook", receiver))
    assert run_cli("run", "--once", "--config", str(config), redis_url=redis_url).returncode == 0
    first = len(receiver.received)

    again = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert again.returncode == 0, again.stderr
    assert first == 4
    assert len(receiver.received) == first
    assert run_summary(again.stderr)["items_processed"] == 0, "nothing queued again"
    keys = Keys(prefix)
    assert client.xlen(keys.items_stream) == client.xlen(keys.alerts_stream) == 0, "all acked"


def run_summary(log: str) -> dict[str, int]:
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    [summary] = [e for e in events if e["event"] == "run_once_finished"]
    return summary


def test_failed_delivery_is_retried_with_the_same_webhook_id(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(statuses=[500, 503, 500, 503])
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/hook", receiver))

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    ids = [r.headers["webhook-id"] for r in receiver.received]
    delivered = [r.headers["webhook-id"] for r in receiver.received[4:]]
    assert len(set(ids)) == 4, "one webhook-id per alert, reused by its retries"
    assert sorted(delivered) == sorted(set(ids))
    assert client.xlen(Keys(prefix).deliveries_dead) == 0


def test_a_dead_endpoint_dead_letters_after_the_schedule_and_loses_nothing(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(then=500)
    delivery = {
        "retry_schedule": ["1s", "1s"],
        "timeout": "5s",
        "jitter": 0.0,
        "breaker_threshold": 50,
    }
    config = write_config(
        tmp_path, prefix, [site["feed"]], server.route("/hook", receiver), delivery=delivery
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 3, "dead letters in this run: a cron job can tell"
    assert len(receiver.received) == 4 * 3, "first try plus two retries for each alert"
    dead = client.xrange(Keys(prefix).deliveries_dead)
    assert len(dead) == 4
    assert {d[1]["reason"] for d in dead} == {"HTTP 500"}
    again = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    assert again.returncode == 0, "the dead letters of an earlier run do not count again"


def test_run_once_exits_3_while_deliveries_wait_for_a_later_retry(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(then=500)
    delivery = {"retry_schedule": ["1h"], "timeout": "5s", "jitter": 0.0}
    config = write_config(
        tmp_path, prefix, [site["feed"]], server.route("/hook", receiver), delivery=delivery
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 3, result.stderr[-2000:]
    assert client.hlen(Keys(prefix).deliveries) == 4, "each alert waits for its retry in an hour"
    assert client.xlen(Keys(prefix).deliveries_dead) == 0


def test_alerts_are_logged_without_any_webhook(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    config = write_config(tmp_path, prefix, [site["feed"]])

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    alerts = [e for e in events if e["event"] == "alert"]
    assert sorted(a["watchlist"] for a in alerts) == ["nato", "olympics", "olympics", "taiwan"]


def test_a_broken_feed_does_not_stop_the_others(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    feeds = [server.url("/missing.xml"), server.url("/local/weather"), site["feed"]]
    config = write_config(tmp_path, prefix, feeds, server.route("/hook", receiver))

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert len(receiver.received) == 4
    keys = Keys(prefix)
    missing = client.hgetall(keys.feed_state(server.url("/missing.xml")))
    html_page = client.hgetall(keys.feed_state(server.url("/local/weather")))
    assert missing["status"] == "error" and missing["consecutive_errors"] == "1"
    assert "404" in missing["last_error"]
    assert html_page["status"] == "error"


def test_embedded_redis_keeps_state_across_restarts(tmp_path: Path, server: LocalServer) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    config = write_config(tmp_path, "ww", [site["feed"]], server.route("/hook", receiver))

    first = run_cli("run", "--once", "--config", str(config))
    second = run_cli("run", "--once", "--config", str(config))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert len(receiver.received) == 4
    assert (tmp_path / "data" / "appendonlydir").exists() or list((tmp_path / "data").glob("*.aof"))
    assert not (tmp_path / "data" / "redis.sock").exists(), "the embedded server was stopped"


def test_run_serves_until_sigterm_then_stops_cleanly(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver()
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/hook", receiver))

    process = start_cli("run", "--config", str(config), redis_url=redis_url)
    deadline = time.monotonic() + 60
    while len(receiver.received) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)

    assert len(receiver.received) == 4, stderr[-3000:]
    assert process.returncode == 0, stderr[-3000:]
    assert "notifier_stopped" in stderr and "worker_stopped" in stderr
