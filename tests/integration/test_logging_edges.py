"""Logs a newcomer can read: role and pid on every record, the standard library's records in the
same format, no empty fields, outcomes that say what happened, refused article links warned
about once per host, and records from several roles never run together on one line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.site import FeedEntry, rss
from worker.observability.logging import configure_logging, get_logger

NATO_STORY = " ".join(
    [
        "NATO defence ministers agreed on Thursday to expand the alliance's air policing mission"
        " over the Baltic states.",
        "The decision follows months of talks in Brussels about rotating fighter squadrons from"
        " member countries.",
        "Officials said the first aircraft would arrive in Lithuania before the end of the year.",
    ]
    * 3
)
WEATHER = "A senator from Donato county said the weather will be mild this weekend. " * 6


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_standard_library_records_are_json_with_role_and_pid(root_logger: logging.Logger) -> None:
    out = io.StringIO()
    configure_logging("info", "json", out, role="worker")

    logging.getLogger("trafilatura.core").warning("could not %s %s", "parse", "https://u:pw@h/x")
    logging.getLogger("httpx").info("HTTP Request: GET https://example.org/ 200 OK")
    get_logger().info("done", empty="", nothing=None, none_found=[], zero=0, off=False)

    found = records(out.getvalue())
    assert [r["event"] for r in found] == ["could not parse https://***@h/x", "done"]
    assert found[0]["logger"] == "trafilatura.core" and found[0]["level"] == "warning"
    assert all(r["role"] == "worker" and r["pid"] == os.getpid() for r in found)
    assert {"empty", "nothing", "none_found"}.isdisjoint(found[1])
    assert (found[1]["zero"], found[1]["off"]) == (0, False)


def test_configuring_again_leaves_one_route_for_standard_records(
    root_logger: logging.Logger,
) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", first, role="worker")
    configure_logging("info", "json", second, role="worker")
    logging.getLogger("redis").warning("gone")
    assert first.getvalue() == "" and len(records(second.getvalue())) == 1


def mount_site(server: LocalServer) -> None:
    """Two feeds: a NATO story and an unrelated one on 127.0.0.1, a copy of the NATO story on
    localhost. Article links to both hosts are private, so their fetches are refused."""
    port = server.port
    server.route("/a.xml", Response(200, rss([
        FeedEntry("a1", "NATO expands air policing", server.url("/a1"), NATO_STORY),
        FeedEntry("a2", "Mild weekend", server.url("/a2"), WEATHER),
    ]), {"Content-Type": "application/rss+xml"}))  # fmt: skip
    copy = NATO_STORY + " Editor's note: updated with reaction from Vilnius."
    server.route("/b.xml", Response(200, rss([
        FeedEntry("b1", "Alliance to police Baltic skies", f"http://localhost:{port}/b1", copy),
    ]), {"Content-Type": "application/rss+xml"}))  # fmt: skip


def test_a_run_logs_refusals_once_per_host_and_outcomes_that_say_what_happened(
    tmp_path: Path, server: LocalServer, redis_url: str, prefix: str
) -> None:
    mount_site(server)
    config = write_config(
        tmp_path,
        prefix,
        [server.url("/a.xml"), server.url("/b.xml")],
        fetch={"allow_private_addresses": False, "timeout": "10s"},
        worker={"concurrency": 1},
    )

    result = run_cli("run", "--once", "--config", str(config), redis_url=redis_url)

    assert result.returncode == 0, result.stderr
    found = records(result.stderr)
    assert all(r["role"] == "run" and isinstance(r["pid"], int) for r in found)
    assert not [(r["event"], k) for r in found for k, v in r.items() if v in (None, "", [], {})]
    refused = [r for r in found if r["event"] == "article_fetch_refused"]
    assert sorted(r["host"] for r in refused) == ["127.0.0.1", "localhost"]
    assert all(r["level"] == "warning" and "allow_private_addresses" in r["hint"] for r in refused)
    processed = {r["item"].rsplit("/", 1)[-1]: r for r in found if r["event"] == "item_processed"}
    nato = sorted((processed["a1"]["outcome"], processed["b1"]["outcome"]))
    assert nato == ["alerted", "already_alerted"]
    assert processed["a2"]["outcome"] == "no_match"
    assert all(r["alerts"] > 0 for r in processed.values() if r["outcome"] == "alerted")
    assert processed["a1"]["watchlists"] == processed["b1"]["watchlists"] == ["nato"]


SPEWER = """
import json, signal, sys
for i in range(200):
    sys.stderr.write(json.dumps({"child": sys.argv[1], "i": i, "pad": "x" * 20000}) + "\\n")
sys.stderr.write("plain words, as a traceback would be\\n")
sys.stderr.flush()
signal.pause()  # stay up until the supervisor stops us, so it restarts nothing
"""

SUPERVISE = """
import sys, threading
from pathlib import Path
import worker.roles.supervisor as supervisor
from worker.observability.logging import configure_logging, get_logger

supervisor.role_command = lambda role, _config: [sys.executable, "-c", sys.argv[1], role]
configure_logging("info", "json", role="run")
stop = threading.Event()
threading.Timer(4.0, stop.set).start()
supervisor.Supervisor(Path("unused"), "redis://unused", get_logger(), ("a", "b"), True).run(stop)
"""


def test_roles_records_never_run_together_on_one_line() -> None:
    """Two roles write long records at once; `run` relays each whole, so every line is one
    JSON record (written straight to one shared stderr, they would cut into each other), and
    a line a role wrote outside logging becomes a record of its own."""
    result = subprocess.run(
        [sys.executable, "-c", SUPERVISE, SPEWER], capture_output=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr[-2000:]
    found = records(result.stderr.decode())
    spewed = [r for r in found if "pad" in r]
    assert sorted((r["child"], r["i"]) for r in spewed) == sorted(
        (child, i) for child in "ab" for i in range(200)
    )
    started = [r for r in found if r.get("event") == "role_started"]
    assert sorted(r["child"] for r in started) == ["a", "b"]
    plain = [(r["child"], r["text"], r["role"]) for r in found if r.get("event") == "role_output"]
    assert sorted(plain) == [(c, "plain words, as a traceback would be", "run") for c in "ab"]
