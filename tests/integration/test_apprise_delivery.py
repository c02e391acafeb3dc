"""Alerts through apprise, end to end against real local servers: an SMTP server (aiosmtpd) on
loopback receiving the email, an HTTP receiver standing in for an ntfy server, and one that
never answers. The notifier runs as in production (its Redis store, retries, dead letters)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import Receiver, mount_seed_site
from tests.support.smtpserver import MailHandler, mailto_url, parts, smtp_server
from worker.alerts import delivery
from worker.alerts.breaker import BreakerPolicy
from worker.alerts.delivery import DeliveryPolicy, Endpoint, Notifier
from worker.alerts.schedule import DAY_S, DailyTime
from worker.observability.logging import get_logger
from worker.ops.dlq import list_dead, replay
from worker.queue.keys import Keys


def envelope(
    watchlist: str, title: str, stamp: str, snippet: str = "", url: str = ""
) -> dict[str, Any]:
    slug = watchlist.lower()
    return {
        "type": "alert.created",
        "timestamp": stamp,
        "data": {
            "alert_id": f"al_{slug}_{abs(hash((title, stamp))) % 10**8}",
            "watchlist": {"id": slug, "name": watchlist},
            "article": {
                "url": url or f"https://news.example.org/{slug}/{len(title)}",
                "title": title,
                "published_at": stamp,
                "feed": {"url": "https://news.example.org/rss", "name": "Example News"},
            },
            "story": {"id": "st_1", "articles": 1},
            "matches": [{"field": "body", "text": watchlist, "snippet": snippet}]
            if snippet
            else [],
        },
    }


NATO = envelope(
    "NATO",
    "Summit <b>opens</b> @everyone",
    "2026-12-01T10:00:00Z",
    "… leaders said NATO would <i>grow</i> …",
)


def notifier(
    client: redis.Redis,
    keys: Keys,
    endpoints: list[Endpoint],
    schedule: tuple[float, ...] = (0.2,),
    timeout_s: float = 5.0,
    clock: Callable[[], float] = time.time,
    concurrency: int = 2,
) -> Notifier:
    policy = DeliveryPolicy(schedule, timeout_s, 0.0, concurrency, BreakerPolicy(50, 30.0, 60.0))
    return Notifier(client, keys, {e.id: e for e in endpoints}, policy, get_logger(), clock)


def offer(n: Notifier, event: dict[str, Any], *endpoint_ids: str) -> None:
    fields = {"body": json.dumps(event), "notify": json.dumps(list(endpoint_ids))}
    assert n.take_batch([(f"{time.time_ns()}-0", fields)], "notifier") == []


def redis_address(client: redis.Redis) -> object:
    """The address a connection of `client`'s pool connects to: a unix socket path, or (host,
    port) as `socket.connect` is given it."""
    kwargs = client.connection_pool.connection_kwargs
    return kwargs["path"] if "path" in kwargs else (kwargs["host"], kwargs["port"])


def settle(n: Notifier, rounds: int = 50) -> None:
    """Dispatch until nothing is due any more (retries included), as `run --once` does."""
    for _ in range(rounds):
        n.dispatch()
        assert n.wait_idle(30)
        due = n.next_due_at()
        if due is None:
            return
        time.sleep(min(max(due - time.time(), 0.0), 1.0) + 0.02)
    raise AssertionError("deliveries never settled")


def with_endpoint(config: Path, endpoint: dict[str, str]) -> None:
    """The test config with `endpoint` as its one webhook, notified by every watchlist."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["webhooks"] = [endpoint]
    for watchlist in data["watchlists"]:
        watchlist["notify"] = [endpoint["id"]]
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture
def mail() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    with smtp_server(handler) as port:
        yield handler, port


def test_an_alert_arrives_as_an_email_with_html_and_plain_text_parts(
    client: redis.Redis, keys: Keys, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    n = notifier(client, keys, [Endpoint("desk", mailto_url(port))])
    offer(n, NATO, "desk")
    settle(n)
    n.close()

    assert len(handler.accepted) == 1
    email = handler.accepted[0]
    assert email["Subject"] == "[NATO] Summit <b>opens</b> @\u200beveryone"
    assert email["From"].addresses[0].addr_spec == "ww@example.org"
    assert handler.recipients == [["desk@example.org"]]
    assert email.get_content_type() == "multipart/alternative"
    body = parts(email)
    html, plain = body["text/html"], body["text/plain"]
    assert "<b>NATO</b>" in html, "the hit is marked"
    assert "&lt;i&gt;grow&lt;/i&gt;" in html, "markup from the feed is shown, not applied"
    assert "<i>" not in html
    assert '<a href="https://news.example.org/nato/' in html
    for text in ("Watchlist: NATO", "Source: Example News", "Time: 2026-12-01 10:00 UTC"):
        assert text in plain
    assert "https://news.example.org/nato/" in plain, "the plain part keeps the link"


def test_a_refused_email_is_retried_on_the_schedule_then_delivered(
    client: redis.Redis, keys: Keys, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    handler.replies = ["451 4.3.0 mailbox busy", "421 4.7.0 try again later"]
    n = notifier(client, keys, [Endpoint("desk", mailto_url(port))], schedule=(0.2, 0.2, 0.2))
    offer(n, NATO, "desk")
    settle(n)
    n.close()

    assert handler.attempts == 3
    assert len(handler.accepted) == 1
    assert client.xlen(keys.deliveries_dead) == 0
    assert client.hlen(keys.deliveries) == 0


def test_a_digest_email_lists_its_alerts_by_watchlist_newest_first(
    client: redis.Redis, keys: Keys, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    n = notifier(client, keys, [Endpoint("desk", mailto_url(port), digest_s=3600.0)])
    offer(n, envelope("Taiwan", "Strait drills", "2026-12-01T08:00:00Z"), "desk")
    offer(n, envelope("NATO", "Older NATO story", "2026-12-01T07:00:00Z"), "desk")
    offer(n, envelope("NATO", "Newer NATO story", "2026-12-01T09:30:00Z"), "desk")
    assert n.flush_digests(force=True) == 1
    settle(n)
    assert n.flush_digests(force=True) == 0, "an empty buffer sends nothing"
    n.close()

    assert len(handler.accepted) == 1
    email = handler.accepted[0]
    assert email["Subject"] == "wirewatch digest: 3 alerts"
    plain = parts(email)["text/plain"]
    order = [plain.index(t) for t in ("NATO (2)", "Newer NATO", "Older NATO", "Taiwan (1)")]
    assert order == sorted(order)
    assert "Strait drills" in parts(email)["text/html"]


def test_a_daily_digest_goes_out_at_its_local_time_and_an_empty_day_sends_nothing(
    client: redis.Redis, keys: Keys, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    now = [datetime(2026, 12, 1, 5, 0, tzinfo=UTC).timestamp()]  # 06:00 in Berlin
    daily = DailyTime(7, 0, "Europe/Berlin")
    endpoint = Endpoint("desk", mailto_url(port), digest_s=DAY_S, digest_daily=daily)
    n = notifier(client, keys, [endpoint], clock=lambda: now[0])

    assert n.flush_digests() == 0  # the first period starts now
    offer(n, envelope("NATO", "Before seven", "2026-12-01T05:10:00Z"), "desk")
    now[0] += 50 * 60  # 06:50 Berlin
    assert n.flush_digests() == 0
    now[0] += 11 * 60  # 07:01 Berlin
    assert n.flush_digests() == 1
    settle(n)
    assert [m["Subject"] for m in handler.accepted] == ["wirewatch digest: 1 alert"]

    now[0] += DAY_S  # the next morning: nothing arrived, nothing is sent
    assert n.flush_digests() == 0
    offer(n, envelope("NATO", "Mid-morning", "2026-12-02T08:00:00Z"), "desk")
    now[0] += 2 * 3600  # 09:01 Berlin: the alert waits for tomorrow's 07:00
    assert n.flush_digests() == 0
    now[0] += 22 * 3600  # 07:01 Berlin the day after
    assert n.flush_digests() == 1
    settle(n)
    n.close()
    assert len(handler.accepted) == 2
    assert "Mid-morning" in parts(handler.accepted[1])["text/plain"]


def test_a_daily_digest_larger_than_one_batch_is_sent_whole_that_morning(
    client: redis.Redis, keys: Keys, mail: tuple[MailHandler, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "_DIGEST_MAX", 2)  # a batch of 2 instead of 500
    handler, port = mail
    now = [datetime(2026, 12, 1, 5, 0, tzinfo=UTC).timestamp()]
    daily = DailyTime(7, 0, "Europe/Berlin")
    endpoint = Endpoint("desk", mailto_url(port), digest_s=DAY_S, digest_daily=daily)
    n = notifier(client, keys, [endpoint], clock=lambda: now[0])
    assert n.flush_digests() == 0
    for minute in range(5):
        offer(n, envelope("NATO", f"story {minute}", f"2026-12-01T05:0{minute}:00Z"), "desk")
    now[0] += 3600 + 60  # 07:01 Berlin
    assert [n.flush_digests() for _ in range(4)] == [1, 1, 1, 0]
    settle(n)
    n.close()
    assert sorted(m["Subject"] for m in handler.accepted) == [
        "wirewatch digest: 1 alert",
        "wirewatch digest: 2 alerts",
        "wirewatch digest: 2 alerts",
    ]


def test_an_ntfy_server_gets_the_topic_title_and_a_message_within_4kb(
    client: redis.Redis, keys: Keys, server: LocalServer
) -> None:
    receiver = Receiver()
    server.route("/", receiver)
    long_snippet = "the NATO chief said " + "very " * 2000 + "much"
    event = envelope("NATO", "Long story", "2026-12-01T10:00:00Z", long_snippet)
    n = notifier(client, keys, [Endpoint("push", f"ntfy://127.0.0.1:{server.port}/wire-alerts")])
    offer(n, event, "push")
    settle(n)
    n.close()

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request.method == "POST"
    assert "X-Icon" not in request.headers, "no icon for the app to fetch from elsewhere"
    sent = json.loads(request.body)
    assert sent["topic"] == "wire-alerts"
    assert sent["title"] == "[NATO] Long story"
    message = sent["message"]
    assert len(message.encode()) <= 4096
    assert "«NATO»" in message
    assert "…" in message, "the snippet was cut, with an ellipsis"
    assert message.endswith("https://news.example.org/nato/10"), "the link survives the cut"


def test_ntfy_failures_are_retried_dead_lettered_and_replayed_without_showing_credentials(
    client: redis.Redis, keys: Keys, server: LocalServer
) -> None:
    receiver = Receiver(then=500)
    server.route("/", receiver)
    url = f"ntfy://reader:pa55word-xyz@127.0.0.1:{server.port}/topic-s3cret"
    n = notifier(client, keys, [Endpoint("push", url)], schedule=(0.2, 0.2))
    offer(n, NATO, "push")
    settle(n)

    assert len(receiver.received) == 3, "the first try and two retries"
    assert receiver.received[0].headers["Authorization"].startswith("Basic ")
    dead = list_dead(client, keys)
    assert [d.kind for d in dead] == ["delivery"]
    shown = json.dumps([d.__dict__ for d in dead]) + json.dumps(
        client.hgetall(keys.endpoint_state("push"))
    )
    assert "500" in dead[0].reason
    for secret in ("pa55word-xyz", "topic-s3cret", "reader"):
        assert secret not in shown

    receiver.then = 200
    assert replay(client, keys, [dead[0].id]) == [dead[0].id]
    settle(n)
    n.close()
    assert len(receiver.received) == 4
    assert list_dead(client, keys) == []


def test_a_server_that_never_answers_holds_only_its_own_endpoint(
    client: redis.Redis, keys: Keys, server: LocalServer
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog and are never answered
    receiver = Receiver()
    live_hits: list[str] = []

    def live(request: Any) -> Any:
        live_hits.append(client.hget(keys.deliveries, f"{NATO['data']['alert_id']}:hung") or "")
        return receiver(request)

    server.route("/", live)
    hung = Endpoint("hung", f"ntfy://127.0.0.1:{silent.getsockname()[1]}/t")
    good = Endpoint("good", f"ntfy://127.0.0.1:{server.port}/t")
    n = notifier(client, keys, [hung, good], schedule=(30.0,), timeout_s=1.0, concurrency=1)
    try:
        offer(n, NATO, "hung", "good")
        n.dispatch()
        assert n.wait_idle(30)
    finally:
        n.close()
        silent.close()

    assert len(receiver.received) == 1
    assert json.loads(live_hits[0])["attempts"] == 0, "delivered while the hung send was waiting"
    record = json.loads(client.hget(keys.deliveries, f"{NATO['data']['alert_id']}:hung") or "{}")
    assert record["attempts"] == 1
    assert record["last_error"], "the deadline (or apprise's timeout) failed the send"


def test_apprise_connects_only_to_the_endpoints_server(
    client: redis.Redis, keys: Keys, server: LocalServer, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    server.route("/", Receiver())
    seen: list[tuple[str, Any]] = []
    watching = threading.Event()

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if watching.is_set() and event in ("socket.connect", "socket.getaddrinfo"):
            seen.append((event, args[1] if event == "socket.connect" else args[:2]))

    sys.addaudithook(audit)  # stays for the process; it records only while `watching` is set
    endpoints = [
        Endpoint("desk", mailto_url(port)),
        Endpoint("push", f"ntfy://127.0.0.1:{server.port}/t"),
    ]
    n = notifier(client, keys, endpoints)
    offer(n, NATO, "desk", "push")
    watching.set()
    try:
        settle(n)
    finally:
        watching.clear()
        n.close()

    assert len(handler.accepted) == 1
    # The notifier's own Redis pool may open a connection meanwhile (a delivery thread's first
    # call): that is wirewatch's store, not a place Apprise reached.
    store = redis_address(client)
    connects = {args for event, args in seen if event == "socket.connect" and args != store}
    lookups = {args[0] for event, args in seen if event == "socket.getaddrinfo"}
    assert connects == {("127.0.0.1", port), ("127.0.0.1", server.port)}
    assert lookups <= {"127.0.0.1"}


def test_run_once_emails_every_alert_waiting_for_a_due_retry(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, mail: tuple[MailHandler, int]
) -> None:
    handler, port = mail
    handler.replies = ["451 4.3.0 busy"]
    site = mount_seed_site(server)
    config = write_config(tmp_path, prefix, [site["feed"]])
    with_endpoint(config, {"id": "hook", "url": mailto_url(port)})

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    assert handler.attempts == 5, "four alerts, one refused once and retried within the run"
    subjects = sorted(str(m["Subject"]).split("]")[0] for m in handler.accepted)
    assert subjects == ["[NATO", "[Olympics", "[Olympics", "[Taiwan"]


def test_credentials_in_an_apprise_url_reach_no_log_status_or_dead_letter_list(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str
) -> None:
    site = mount_seed_site(server)
    receiver = Receiver(then=503)
    server.route("/", receiver)
    secret_url = f"ntfy://reader:pa55word-xyz@127.0.0.1:{server.port}/topic-s3cret"
    delivery = {"retry_schedule": ["1s", "1s"], "timeout": "5s", "jitter": 0.0}
    config = write_config(
        tmp_path, prefix, [site["feed"]], delivery={**delivery, "breaker_threshold": 50}
    )
    with_endpoint(config, {"id": "hook", "url": secret_url})

    run = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    status = run_cli("status", "--json", "--config", str(config), redis_url=redis_url)
    dead = run_cli("dlq", "list", "--json", "--config", str(config), redis_url=redis_url)

    assert run.returncode == 3, "exit 3: deliveries were dead-lettered in this run"
    assert len(receiver.received) == 4 * 3, "each alert tried, then retried twice"
    letters = [json.loads(line) for line in dead.stdout.splitlines() if line.strip()]
    assert len(letters) == 4, "the alerts were dead-lettered"
    assert "delivery_failed" in run.stderr and "503" in dead.stdout
    shown = run.stdout + run.stderr + status.stdout + status.stderr + dead.stdout + dead.stderr
    for secret in ("pa55word-xyz", "topic-s3cret", "reader"):
        assert secret not in shown


def test_the_circuit_breaker_opens_per_apprise_endpoint(
    client: redis.Redis, keys: Keys, server: LocalServer
) -> None:
    failing, working = Receiver(then=500), Receiver()
    server.route("/", failing)
    with LocalServer() as other:
        other.route("/", working)
        endpoints = [
            Endpoint("down", f"ntfy://127.0.0.1:{server.port}/t"),
            Endpoint("up", f"ntfy://127.0.0.1:{other.port}/t"),
        ]
        policy = DeliveryPolicy((0.05,) * 5, 5.0, 0.0, 2, BreakerPolicy(2, 3600.0, 3600.0))
        n = Notifier(client, keys, {e.id: e for e in endpoints}, policy, get_logger())
        for hour in range(3):
            offer(n, envelope("NATO", f"story {hour}", f"2026-12-01T0{hour}:00:00Z"), "down", "up")
        for _ in range(10):
            n.dispatch()
            assert n.wait_idle(30)
            time.sleep(0.06)
        n.close()

    assert len(working.received) == 3
    assert len(failing.received) == 2, "two failures open the circuit: no more tries meanwhile"
    state = client.hgetall(keys.endpoint_state("down"))
    assert float(state["open_until"]) > time.time() + 3000
    assert client.zcard(keys.endpoint_due("down")) == 3, "the deliveries wait, none lost"
    assert client.hgetall(keys.endpoint_state("up")).get("failures", "0") == "0"
