"""The scheduler and websub processes for real: subscribe, take a push, follow edits, Redis away."""

from __future__ import annotations

import select
import threading
from pathlib import Path

import redis

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.roles import StderrTail, free_port, stop, wait_until
from tests.support.websub import (
    Hub,
    atom,
    built_world,
    subscribed,
)
from worker.queue.embedded import EmbeddedRedis
from worker.queue.keys import Keys
from worker.websub.decisions import (
    ACTIVE,
)
from worker.websub.store import WebSubStore


def test_scheduler_and_websub_processes_subscribe_and_take_a_push(
    tmp_path: Path, redis_url: str, client: redis.Redis, keys: Keys, prefix: str
) -> None:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/websub"
    with LocalServer() as site, LocalServer() as hub_server:
        hub = Hub(hub_server)
        site.route("/feed.xml", Response(200, atom(hub.url, range(2))))
        section = {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": public_url}
        config = write_config(tmp_path, prefix, [site.url("/feed.xml")], websub=section)
        processes = [
            start_cli(role, "--config", str(config), redis_url=redis_url)
            for role in ("scheduler", "websub")
        ]
        logs = ""
        try:
            assert wait_until(lambda: bool(hub.verifications), timeout=60)
            assert hub.verifications[0][0] == 200
            assert wait_until(lambda: client.xlen(keys.items_stream) == 2, timeout=30)
            assert hub.push(atom(hub.url, range(3))).status_code == 202
            assert client.xlen(keys.items_stream) == 3
            feeds = run_cli("feeds", "--config", str(config), redis_url=redis_url)
            assert f"feed0: active via {hub.url}" in feeds.stdout
            assert hub.subscribes()[0]["hub.secret"] not in feeds.stdout
        finally:
            logs = "".join(stop(process) for process in processes)
            hub.http.close()
    assert "websub_subscribed" in logs
    assert hub.subscribes()[0]["hub.secret"] not in logs


def test_websub_process_idles_when_disabled_and_stops_cleanly(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    process = start_cli("websub", "--config", str(config), redis_url=redis_url)
    assert process.stderr is not None
    seen = ""
    while "websub_disabled" not in seen:  # logged once its signal handlers are in place
        assert select.select([process.stderr], [], [], 60)[0], "no log line within 60s"
        line = process.stderr.readline()
        assert line, "exited early"
        seen += line
    stop(process)
    assert process.returncode == 0


def test_redis_going_away_gets_503s_and_the_manager_carries_on(tmp_path: Path) -> None:
    """Pushes and verifications are answered 503 (the hub sends them again), the manager's loop
    logs and waits; when Redis is back, both work again and nothing pushed meanwhile is lost."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
    stop_manager = threading.Event()
    try:
        with built_world(client, Keys("blip")) as world:
            record = subscribed(world)
            world.clock.now = float(record["renew_at"])  # a renewal is due: the loop acts
            server.stop()
            manager = threading.Thread(
                target=world.manager.run_until, args=(stop_manager, 0.05), daemon=True
            )
            manager.start()
            body = atom(world.hub.url, range(3))
            assert world.hub.push(body).status_code == 503
            assert world.hub.verify(world.hub.subscribes()[-1]).status_code == 503
            assert manager.is_alive()
            server.start()
            assert wait_until(lambda: len(world.hub.subscribes()) == 2, timeout=30)  # renewed
            assert world.hub.push(body).status_code == 202
            assert world.queued() == ["urn:e0", "urn:e1", "urn:e2"]
            stop_manager.set()
            manager.join(30)
    finally:
        stop_manager.set()
        client.close()
        server.stop()


def test_websub_process_follows_feed_edits_with_the_scheduler(
    tmp_path: Path, redis_url: str, client: redis.Redis, keys: Keys, prefix: str
) -> None:
    """A feed added to the config while both processes run is subscribed at its hub (the
    scheduler finds the hub, the websub process must count the feed as configured), and a feed
    removed from it is unsubscribed."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/websub"
    with LocalServer() as site, LocalServer() as hub_server:
        hub = Hub(hub_server)
        first, second = site.url("/a.xml"), site.url("/b.xml")
        site.route("/a.xml", Response(200, atom(hub.url, range(2))))
        site.route("/b.xml", Response(200, atom(hub.url, range(10, 12))))
        section = {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": public_url}
        config = write_config(tmp_path, prefix, [first], websub=section)
        processes = [
            StderrTail(start_cli(role, "--config", str(config), redis_url=redis_url))
            for role in ("scheduler", "websub")
        ]

        def topics(mode: str) -> list[str]:
            return [form["hub.topic"] for form in hub.requests if form.get("hub.mode") == mode]

        store = WebSubStore(client, keys)
        try:
            assert wait_until(lambda: first in topics("subscribe"), timeout=60)
            assert write_config(tmp_path, prefix, [first, second], websub=section) == config
            assert wait_until(lambda: second in topics("subscribe"), timeout=60)
            queued = lambda: client.xlen(keys.items_stream)  # noqa: E731
            assert wait_until(lambda: queued() == 4, timeout=60), f"{queued()} entries queued"
            assert wait_until(lambda: store.read(second).get("state") == ACTIVE, timeout=30)
            write_config(tmp_path, prefix, [second], websub=section)
            assert wait_until(lambda: first in topics("unsubscribe"), timeout=60)
            assert topics("unsubscribe") == [first]
        finally:
            logs = "".join(process.stop() for process in processes)
            hub.http.close()
    assert "Traceback" not in logs, logs
