"""Fault tests: real role processes killed with SIGKILL; each test asserts exact counts.

Items are queued by the scheduler's own code (FeedPoller) so each test controls when work exists;
the roles under test run as `wirewatch worker|notifier|run` subprocesses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis
import yaml

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.httpserver import LocalServer, Request, Response
from tests.support.roles import free_port, kill, stop, wait_until
from tests.support.site import FeedEntry, Receiver, article_html, html_headers, mount_seed_site, rss
from worker.config import load_config
from worker.queue.keys import ITEMS_GROUP, Keys
from worker.roles.runtime import Runtime
from worker.roles.scheduler import build_poller

ARTICLES = 8
FAST_RECLAIM = {"claim_idle": "1s", "max_attempts": 3, "concurrency": 2, "batch": 4}


def slow_page(delay_s: float, body: bytes) -> Any:
    def handler(_: Request) -> Response:
        time.sleep(delay_s)
        return Response(200, body, html_headers())

    return handler


def mount_nato_site(server: LocalServer, count: int, delay_s: float) -> str:
    """`count` distinct NATO articles behind slow pages, and their feed."""
    entries = []
    for i in range(count):
        text = [f"Story {i}: NATO ministers met in Brussels to discuss item {i} of the agenda."] * 4
        server.route(f"/a/{i}", slow_page(delay_s, article_html(f"NATO story {i}", text)))
        entries.append(FeedEntry(f"g{i}", f"NATO story {i}", server.url(f"/a/{i}")))
    server.route("/nato.xml", Response(200, rss(entries), {"Content-Type": "application/rss+xml"}))
    return server.url("/nato.xml")


def queue_items(config: Path, redis_url: str) -> int:
    """Poll every configured feed once with the scheduler's code; returns the items queued."""
    settings = load_config(config, {"REDIS_URL": redis_url})
    rt = Runtime.open(settings, redis_url)
    try:
        return sum(build_poller(rt).poll(feed).new_items for feed in settings.feeds)
    finally:
        rt.close()


def alert_ids(client: redis.Redis, keys: Keys) -> list[str]:
    entries = client.xrange(keys.alerts_stream)
    return [json.loads(f["body"])["data"]["alert_id"] for _, f in entries]


def emitted_alert_ids(client: redis.Redis, keys: Keys) -> set[str]:
    """Every alert emitted (its marker), also once the notifier acked it and the stream was
    trimmed of it."""
    prefix = keys.alert_marker("")
    return {k.removeprefix(prefix) for k in client.scan_iter(match=prefix + "*")}


def group_drained(client: redis.Redis, stream: str, group: str) -> bool:
    info = next((g for g in client.xinfo_groups(stream) if g["name"] == group), None)
    last = client.xinfo_stream(stream)["last-generated-id"]
    return info is not None and info["pending"] == 0 and info["last-delivered-id"] == last


def test_a_worker_killed_mid_batch_loses_no_item_and_duplicates_no_alert(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_nato_site(server, ARTICLES, delay_s=0.4)
    config = write_config(tmp_path, prefix, [feed], worker=FAST_RECLAIM)
    keys = Keys(prefix)
    assert queue_items(config, redis_url) == ARTICLES

    first = start_cli("worker", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: 1 <= client.xlen(keys.alerts_stream) < ARTICLES, timeout=60)
    kill(first)
    done_before_kill = client.xlen(keys.alerts_stream)
    assert done_before_kill < ARTICLES, "the kill came mid-batch"

    second = start_cli("worker", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: group_drained(client, keys.items_stream, ITEMS_GROUP), timeout=90)
    log = stop(second)

    ids = alert_ids(client, keys)
    assert len(ids) == ARTICLES, log[-2000:]
    assert len(set(ids)) == ARTICLES
    assert client.xlen(keys.items_dead) == 0


def test_a_notifier_killed_before_its_ack_resends_only_the_same_webhook_id(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    hung: list[str] = []

    def receiver(request: Request) -> Response:
        if not hung:  # the first request is received, then the notifier dies before any answer
            hung.append(request.headers["webhook-id"])
            time.sleep(30)
        return Response(200, b"ok")

    delivery = {"retry_schedule": ["1s"], "timeout": "1s", "jitter": 0.0, "concurrency": 1}
    config = write_config(
        tmp_path, prefix, [site["feed"]], server.route("/hook", receiver), delivery=delivery
    )
    keys = Keys(prefix)
    queue_items(config, redis_url)
    worker = start_cli("worker", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: group_drained(client, keys.items_stream, ITEMS_GROUP), timeout=60)
    stop(worker)
    assert client.xlen(keys.alerts_stream) == 4
    expected = set(alert_ids(client, keys))  # before notifiers ack them (and trim the stream)

    first = start_cli("notifier", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: bool(hung), timeout=60)
    kill(first)
    second = start_cli("notifier", "--config", str(config), redis_url=redis_url)
    delivered = lambda: {r.headers["webhook-id"] for r in server.requests_to("/hook")}  # noqa: E731
    assert wait_until(
        lambda: delivered() == expected and client.hlen(keys.deliveries) == 0, timeout=90
    )
    stop(second)

    ids = [r.headers["webhook-id"] for r in server.requests_to("/hook")]
    bodies = [json.loads(r.body)["data"]["alert_id"] for r in server.requests_to("/hook")]
    assert ids == bodies, "a webhook-id always names its own alert"
    assert set(ids) == expected
    assert ids.count(hung[0]) == 2, "the interrupted delivery was sent again, with the same id"
    assert len(ids) == len(expected) + 1


def test_deliveries_wait_out_a_receiver_that_refuses_connections(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    port = free_port()
    delivery = {
        "retry_schedule": ["1s", "1s", "2s", "2s", "2s", "2s"],
        "timeout": "2s",
        "jitter": 0.0,
        "breaker_threshold": 100,
    }
    config = write_config(
        tmp_path, prefix, [site["feed"]], f"http://127.0.0.1:{port}/hook", delivery=delivery
    )
    keys = Keys(prefix)

    service = start_cli("run", "--config", str(config), redis_url=redis_url)
    assert wait_until(lambda: len(emitted_alert_ids(client, keys)) == 4, timeout=60)
    assert wait_until(lambda: _failed_attempts(client, keys) >= 4, timeout=30), (
        "tries met a closed port"
    )
    receiver = Receiver()
    with LocalServer(port) as late:
        late.route("/hook", receiver)
        assert wait_until(lambda: client.hlen(keys.deliveries) == 0, timeout=60)
        log = stop(service)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert sorted(ids) == sorted(emitted_alert_ids(client, keys)), log[-2000:]
    assert client.xlen(keys.deliveries_dead) == 0


def _failed_attempts(client: redis.Redis, keys: Keys) -> int:
    records = [json.loads(raw) for raw in client.hvals(keys.deliveries)]
    return sum(1 for r in records if r["attempts"] >= 1)


def test_retry_after_on_429_is_honoured(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    answered: list[tuple[float, int]] = []

    def receiver(request: Request) -> Response:
        status = 429 if not answered else 200
        answered.append((time.monotonic(), status))
        return Response(status, b"slow down", {"Retry-After": "3"})

    delivery = {"retry_schedule": ["1s"], "timeout": "5s", "jitter": 0.0, "concurrency": 1}
    delivery["max_retry_after"] = "1m"  # by default a Retry-After is capped at the largest step
    only_nato = [{"id": "nato", "query": "NATO", "notify": ["hook"]}]
    config = write_config(
        tmp_path,
        prefix,
        [site["feed"]],
        server.route("/hook", receiver),
        delivery=delivery,
        watchlists=only_nato,
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert [s for _, s in answered] == [429, 200]
    assert answered[1][0] - answered[0][0] >= 3.0, (
        "the retry waited for Retry-After, not the 1s schedule"
    )


def test_410_gone_disables_that_endpoint_and_the_others_go_on(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    gone, alive = Receiver(then=410), Receiver()
    one_at_a_time = {"retry_schedule": ["1s"], "timeout": "5s", "concurrency": 1}
    config = write_config(
        tmp_path, prefix, [site["feed"]], server.route("/alive", alive), delivery=one_at_a_time
    )
    _add_second_endpoint(config, server.route("/gone", gone))
    keys = Keys(prefix)

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 3, "dead letters in this run"
    assert len(alive.received) == 4
    assert len(gone.received) == 1, "after the 410, nothing more was sent there"
    dead = client.xrange(keys.deliveries_dead)
    assert len(dead) == 4 and all(d[1]["endpoint"] == "gone" for d in dead)
    status = run_cli("status", "--json", "--config", str(config), redis_url=redis_url)
    health = {e["endpoint"]: e["health"] for e in json.loads(status.stdout)["endpoints"]}
    assert health == {"hook": "closed", "gone": "disabled"}


def _add_second_endpoint(config: Path, url: str) -> None:
    data = yaml.safe_load(config.read_text())
    data["webhooks"].append({"id": "gone", "url": url, "secret": data["webhooks"][0]["secret"]})
    for watchlist in data["watchlists"]:
        watchlist["notify"].append("gone")
    config.write_text(yaml.safe_dump(data))


def test_a_poison_item_is_dead_lettered_and_the_items_behind_it_flow(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_nato_site(server, 3, delay_s=0)
    config = write_config(tmp_path, prefix, [feed], worker=FAST_RECLAIM)
    keys = Keys(prefix)
    client.xadd(keys.items_stream, {"item": "{this is not json"})
    assert queue_items(config, redis_url) == 3

    worker = start_cli("worker", "--config", str(config), redis_url=redis_url)
    assert wait_until(
        lambda: client.xlen(keys.items_dead) == 1 and client.xlen(keys.alerts_stream) == 3,
        timeout=60,
    )
    log = stop(worker)

    dead = client.xrange(keys.items_dead)
    assert len(dead) == 1 and dead[0][1]["attempts"] == "3", log[-2000:]
    assert "JSONDecodeError" in dead[0][1]["error"]
    assert len(alert_ids(client, keys)) == 3
    listing = run_cli("dlq", "list", "--config", str(config), redis_url=redis_url)
    assert "items/" in listing.stdout and "JSONDecodeError" in listing.stdout


def test_the_whole_service_stopped_with_work_in_flight_resumes_after_restart(
    tmp_path: Path, server: LocalServer
) -> None:
    feed = mount_nato_site(server, ARTICLES, delay_s=0.5)
    receiver = Receiver()
    config = write_config(
        tmp_path,
        "ww",
        [feed],
        server.route("/hook", receiver),
        worker={"concurrency": 1, "batch": 1},
    )

    service = start_cli("run", "--config", str(config))  # embedded Redis under data_dir
    assert wait_until(lambda: len(server.requests) >= 3, timeout=60)
    stop(service)
    in_flight = len(receiver.received)
    assert in_flight < ARTICLES, "stopped with work left"

    again = start_cli("run", "--config", str(config))
    assert wait_until(
        lambda: len({r.headers["webhook-id"] for r in receiver.received}) == ARTICLES, timeout=120
    )
    log = stop(again)

    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == ARTICLES, log[-2000:]
    assert len(ids) == ARTICLES, "nothing was sent twice"
    assert not (tmp_path / "data" / "redis.sock").exists()


def test_article_pages_are_fetched_within_the_hosts_politeness_limits(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    started: list[float] = []

    def page(_: Request) -> Response:
        started.append(time.monotonic())
        return Response(
            200,
            article_html("NATO story", ["NATO ministers met in Brussels today."] * 4),
            html_headers(),
        )

    entries = []
    for i in range(4):
        server.route(f"/p/{i}", page)
        entries.append(FeedEntry(f"p{i}", f"NATO story {i}", server.url(f"/p/{i}")))
    feed = server.route(
        "/p.xml", Response(200, rss(entries), {"Content-Type": "application/rss+xml"})
    )
    polite = {"hosts": {"127.0.0.1": {"max_concurrent": 1, "min_spacing": "1s"}}}
    config = write_config(tmp_path, prefix, [feed], worker={"concurrency": 4}, scheduler=polite)

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert len(started) == 4, "every page was fetched, none fell back"
    gaps = [b - a for a, b in zip(sorted(started), sorted(started)[1:], strict=False)]
    assert min(gaps) >= 0.9, f"4 worker threads still kept the host's 1 s spacing: {gaps}"
