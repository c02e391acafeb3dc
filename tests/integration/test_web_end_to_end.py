"""The web role beside the other roles, all as `wirewatch` processes on a real Redis: a
watchlist made through the API fires an alert end to end and survives a restart; /metrics
counts what the run did; /readyz follows a SIGKILLed role."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import run_cli, start_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.roles import StderrTail, free_port, wait_until
from tests.support.site import FeedEntry, Receiver, article_html, html_headers, rss
from tests.support.web import TOKENS, WRITE

READ = TOKENS[0]["token"]
WRONG = "wrong-token-abcdefghijkl"


def mount_site(server: LocalServer, name: str, stories: list[tuple[str, str]]) -> str:
    entries = []
    for slug, sentence in stories:
        # Words of its own in every paragraph: no two stories are near-duplicates of each other.
        paragraphs = [sentence] + [
            " ".join(f"{slug}{i}x{j}" for j in range(12)) + "." for i in range(4)
        ]
        server.route(
            f"/{name}/{slug}", Response(200, article_html(slug, paragraphs), html_headers())
        )
        entries.append(
            FeedEntry(f"{name}-{slug}", slug.replace("-", " "), server.url(f"/{name}/{slug}"))
        )
    return server.route(
        f"/{name}.xml", Response(200, rss(entries), {"Content-Type": "application/rss+xml"})
    )


def config_for(tmp_path: Path, prefix: str, feeds: list[str], hook: str, port: int) -> Path:
    web = {"enabled": True, "listen": f"127.0.0.1:{port}", "tokens": TOKENS,
           "live_timeout": "3s"}  # fmt: skip
    return write_config(tmp_path, prefix, feeds, hook, watchlists=[], web=web)


class Api:
    def __init__(self, port: int) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def up(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def call(self, method: str, path: str, token: str = READ, **kw: object) -> httpx.Response:
        return self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)


def start(role: str, config: Path, redis_url: str) -> StderrTail:
    return StderrTail(start_cli(role, "--config", str(config), redis_url=redis_url))


def sigkill(role: StderrTail) -> None:
    role.process.kill()
    role.process.wait(timeout=30)
    role.stop()  # reaps it and closes its pipes (SIGTERM to a dead process is harmless)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, found), value in samples.items()
        if sample == name and all((k, v) in found for k, v in labels.items())
    )


def test_api_watchlist_alerts_end_to_end_survives_a_restart_and_metrics_count_the_run(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_site(server, "a", [("strait-drills", "Taiwan reported drills in the strait."),
                                    ("harvest", "The harvest was good this year.")])  # fmt: skip
    receiver = Receiver()
    hook = server.route("/hook", receiver)
    port = free_port()
    config = config_for(tmp_path, prefix, [feed], hook, port)
    api = Api(port)
    web = start("web", config, redis_url)
    roles = []
    try:
        assert wait_until(api.up, timeout=60), "".join(web.lines)
        made = api.call("POST", "/api/v1/watchlists", WRITE,
                        json={"id": "taiwan", "query": "Taiwan", "notify": ["hook"]})  # fmt: skip
        assert made.status_code == 201, made.text
        assert api.call("GET", "/api/v1/alerts", token=WRONG).status_code == 401
        roles = [start(role, config, redis_url) for role in ("worker", "notifier", "scheduler")]

        assert wait_until(lambda: len(receiver.received) == 1, timeout=60)
        assert wait_until(lambda: api.call("GET", "/api/v1/alerts").json()["alerts"], timeout=30)
        alerts = api.call("GET", "/api/v1/alerts").json()["alerts"]
        samples: dict = {}

        def counted() -> bool:
            samples.update(metric_samples(api.call("GET", "/metrics").text))
            return (
                total(samples, "wirewatch_items_processed_total") == 2
                and total(samples, "wirewatch_deliveries_total", result="delivered") == 1
            )

        assert wait_until(counted, timeout=30), samples
    finally:
        logs = "".join(process.stop() for process in [*roles, web])

    (alert,) = alerts
    assert not [t for t in [WRONG, *(t["token"] for t in TOKENS)] if t in logs], "token logged"
    assert "web_auth_failed" in logs
    assert "web_started" in logs
    assert alert["watchlist"]["id"] == "taiwan"
    assert alert["article"]["url"].endswith("/a/strait-drills")
    assert '"taiwan"' in receiver.received[0].body.decode()
    assert total(samples, "wirewatch_polls_total") == len(server.requests_to("/a.xml"))
    assert total(samples, "wirewatch_polls_total", outcome="new_items") == 1
    assert total(samples, "wirewatch_items_processed_total", outcome="alerted") == 1
    assert total(samples, "wirewatch_items_processed_total", outcome="no_match") == 1
    assert total(samples, "wirewatch_alerts_total", watchlist="taiwan") == 1
    assert total(samples, "wirewatch_deliveries_total", endpoint="hook", result="delivered") == 1
    assert total(samples, "wirewatch_delivery_latency_seconds_count", endpoint="hook") == 1
    assert total(samples, "wirewatch_matching_duration_seconds_count") == 2
    assert total(samples, "wirewatch_fetch_duration_seconds_count") == 2
    assert total(samples, "wirewatch_live_instances", role="worker") == 1

    # Everything stopped. A new run on the same Redis, with a new feed, still has the watchlist.
    second = mount_site(server, "b", [("island-vote", "Taiwan holds a vote on Saturday.")])
    config = config_for(tmp_path, prefix, [second], hook, port)
    web = start("web", config, redis_url)
    try:
        assert wait_until(api.up, timeout=60)
        kept = api.call("GET", "/api/v1/watchlists/taiwan").json()
        once = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)
    finally:
        web.stop()
        api.http.close()

    assert kept["source"] == "api" and kept["version"] == 1
    assert once.returncode == 0, once.stderr
    assert len(receiver.received) == 2
    assert "island-vote" in receiver.received[1].body.decode()


def test_readyz_turns_503_when_a_role_is_killed_and_200_once_it_is_back(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    feed = mount_site(server, "c", [("quiet", "Nothing happened.")])
    port = free_port()
    config = config_for(tmp_path, prefix, [feed], server.route("/hook", Receiver()), port)
    api = Api(port)
    processes = {
        role: start(role, config, redis_url) for role in ("web", "scheduler", "worker", "notifier")
    }
    try:
        assert wait_until(api.up, timeout=60)
        assert wait_until(lambda: api.http.get("/readyz").status_code == 200, timeout=60)

        sigkill(processes.pop("worker"))
        assert wait_until(lambda: api.http.get("/readyz").status_code == 503, timeout=30)
        down = api.http.get("/readyz").json()

        processes["worker"] = start("worker", config, redis_url)
        assert wait_until(lambda: api.http.get("/readyz").status_code == 200, timeout=60)
        up = api.http.get("/readyz").json()
    finally:
        for process in processes.values():
            process.stop()
        api.http.close()

    assert down["error"] == "not_ready"
    assert down["detail"]["reasons"] == ["no live worker"]
    assert up["ready"] is True and up["live"]["worker"] == 1
