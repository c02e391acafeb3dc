"""Endpoint formats (Standard Webhooks, Slack, Discord) and digests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import redis
import yaml
from standardwebhooks.webhooks import Webhook

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import WEBHOOK_SECRET, Receiver, mount_seed_site
from worker.alerts.formats import render

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def envelope(index: int) -> dict:
    return {
        "type": "alert.created",
        "timestamp": "2026-11-29T12:00:00Z",
        "data": {
            "alert_id": f"al_{index}",
            "watchlist": {"id": "nato", "name": "NATO"},
            "article": {"url": f"https://ex.com/{index}", "title": f"Story {index}"},
            "matches": [{"field": "body", "text": "NATO", "snippet": f"… NATO snippet {index} …"}],
        },
    }


def test_standard_single_is_the_envelope_itself_and_several_make_a_digest() -> None:
    assert json.loads(render("standard", [envelope(1)], NOW)) == envelope(1)
    digest = json.loads(render("standard", [envelope(1), envelope(2)], NOW))
    assert digest["type"] == "alert.digest"
    assert digest["data"]["count"] == 2
    assert [e["data"]["alert_id"] for e in digest["data"]["events"]] == ["al_1", "al_2"]


def test_slack_gets_one_linked_line_per_alert_with_its_snippet() -> None:
    body = json.loads(render("slack", [envelope(1), envelope(2)], NOW))
    lines = body["text"].split("\n")
    assert lines[0] == "*[NATO]* <https://ex.com/1|Story 1>"
    assert lines[1] == "> … NATO snippet 1 …"
    assert len(lines) == 4


def test_discord_gets_embeds_capped_at_ten_with_a_count_of_the_rest() -> None:
    body = json.loads(render("discord", [envelope(i) for i in range(12)], NOW))
    assert len(body["embeds"]) == 10
    assert body["embeds"][0] == {
        "title": "Story 0",
        "url": "https://ex.com/0",
        "description": "… NATO snippet 0 …",
        "footer": {"text": "wirewatch · NATO"},
    }
    assert body["content"] == "and 2 more alert(s)"


def test_a_digest_endpoint_gets_one_request_and_a_slack_endpoint_plain_messages(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    site = mount_seed_site(server)
    digest, slack = Receiver(), Receiver()
    config = write_config(tmp_path, prefix, [site["feed"]], server.route("/digest", digest))
    data = yaml.safe_load(config.read_text())
    data["webhooks"][0]["digest"] = "1h"
    data["webhooks"].append({"id": "chat", "url": server.route("/slack", slack), "format": "slack"})
    for watchlist in data["watchlists"]:
        watchlist["notify"].append("chat")
    config.write_text(yaml.safe_dump(data))

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    [request] = digest.received
    body = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)
    assert body["type"] == "alert.digest" and body["data"]["count"] == 4
    assert request.headers["webhook-id"].startswith("dg_")
    assert len(slack.received) == 4
    texts = [json.loads(r.body)["text"] for r in slack.received]
    assert all(t.startswith("*[") for t in texts)
    assert "webhook-signature" not in slack.received[0].headers
