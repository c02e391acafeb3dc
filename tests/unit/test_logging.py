"""Logs: JSON lines off a terminal, bound context, and no secret ever printed."""

from __future__ import annotations

import io
import json

from worker.observability.logging import configure_logging, get_logger


def test_json_lines_carry_context_and_mask_secrets() -> None:
    out = io.StringIO()
    configure_logging("info", "auto", out)
    get_logger(feed="BBC").info(
        "feed_failed",
        secret="whsec_abc",
        url="https://user:hunter2@example.com/feed",
        error="bad whsec_c2VjcmV0c2VjcmV0 here",
    )
    event = json.loads(out.getvalue())
    assert event["event"] == "feed_failed" and event["feed"] == "BBC"
    assert event["secret"] == "***"
    assert "hunter2" not in out.getvalue() and "c2VjcmV0c2VjcmV0" not in out.getvalue()
    assert event["url"] == "https://***@example.com/feed"


def test_levels_below_the_configured_one_are_dropped() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", out)
    get_logger().info("quiet")
    get_logger().warning("loud")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["loud"]
