"""Wiring of the web role: `wirewatch run` starts it only when enabled; the loopback check."""

from __future__ import annotations

import pytest
import redis

from worker.cli.roles import supervised_roles
from worker.config import Settings
from worker.observability.metrics import RoleMetrics, field_name
from worker.queue.keys import Keys
from worker.roles.web import is_loopback


def test_run_supervises_the_web_role_only_when_enabled() -> None:
    off = Settings.model_validate({})
    on = Settings.model_validate({"web": {"enabled": True}})

    assert "web" not in supervised_roles(off)
    assert supervised_roles(on) == ("scheduler", "worker", "notifier", "archiver", "web")


def test_loopback_addresses_are_told_apart_from_exposed_ones() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.8.0.1")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.org")] == [False] * 4


def test_counts_survive_a_failed_flush(prefix: str, client: redis.Redis) -> None:
    metrics = RoleMetrics()
    metrics.inc("wirewatch_polls_total", outcome="error")
    metrics.observe("wirewatch_poll_duration_seconds", 0.2)
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)

    with pytest.raises(redis.ConnectionError):
        metrics.flush(unreachable, Keys(prefix))
    metrics.flush(client, Keys(prefix))

    stored = client.hgetall(Keys(prefix).metrics)
    assert stored[field_name("wirewatch_polls_total", {"outcome": "error"})] == "1"
    assert stored[field_name("wirewatch_poll_duration_seconds_count", {})] == "1"
    assert stored[field_name("wirewatch_poll_duration_seconds_bucket", {"le": "0.25"})] == "1"
    assert field_name("wirewatch_poll_duration_seconds_bucket", {"le": "0.1"}) not in stored
