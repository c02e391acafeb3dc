"""Every command answers bad input with one line on stderr and exit 2, an unknown id with exit 1:
never a traceback, never a success it did not have."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli, write_config
from worker.errors import BlockedAddressError
from worker.fetching.guard import check_url

OPML = b"""<?xml version="1.0"?><opml version="2.0"><head/><body>
<outline text="A" xmlUrl="https://a.example/rss"/></body></opml>"""


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wirewatch") and says in lines[0]


@pytest.fixture
def config(tmp_path: Path, prefix: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    write_config(directory, prefix, [], webhook_url="http://127.0.0.1:9/hook")
    return directory


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["feeds", "import", "missing.opml"], "cannot read missing.opml: No such file or directory"),
        (["feeds", "import", "{config}/wirewatch.yaml"], "not OPML"),
        (["feeds", "discover", "notaurl"], "'notaurl' is not an http:// or https:// URL"),
        (["feeds", "discover", "http://[::1"], "'http://[::1' is not an http:// or https:// URL"),
        (["match", "--query", "NATO", "missing.txt"], "cannot read missing.txt"),
        (["match", "--watchlist", "nosuch"], "no watchlist with id 'nosuch'"),
        (["check", "--config", "nosuch"], "nosuch: config file or directory not found"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["status", "--bogus"], "unrecognized arguments: --bogus"),
        (["dlq"], "required: COMMAND"),
        (["dlq", "replay"], "one of the arguments --id --all is required"),
        (["feeds", "import"], "required: file"),
        (["endpoint", "enable"], "required: endpoint_id"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    config: Path, redis_url: str, args: list[str], says: str
) -> None:
    argv = [a.format(config=config) for a in args]
    if "--config" not in argv and argv[0] not in ("bogus", "status", "dlq"):
        argv += ["--config", str(config)]
    assert_one_line(run_cli(*argv, redis_url=redis_url, stdin="text"), 2, says)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dlq", "replay", "--id", "alerts/doesnotexist"], "not found: alerts/doesnotexist"),
        (["dlq", "replay", "--id", "items/1-0", "--id", "x"], "not found: items/1-0, x"),
        (["endpoint", "enable", "nosuch"], "no webhook 'nosuch' in the configuration (webhooks: hook)"),
    ],
)  # fmt: skip
def test_an_unknown_id_is_one_line_and_exit_1(
    config: Path, redis_url: str, args: list[str], says: str
) -> None:
    result = run_cli(*args, "--config", str(config), redis_url=redis_url)
    assert_one_line(result, 1, says)
    assert "enabled" not in result.stdout


def test_a_query_error_is_a_complete_line_then_a_caret_under_the_fault() -> None:
    result = run_cli("match", "--query", "NATO AND (x", "-", stdin="text")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "wirewatch: query error: rule 'query': unclosed '(' at position 9",
        "  NATO AND (x",
        "           ^",
    ]


def test_a_known_endpoint_is_enabled(config: Path, redis_url: str) -> None:
    result = run_cli("endpoint", "enable", "hook", "--config", str(config), redis_url=redis_url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("endpoint hook enabled")


def test_an_import_refuses_to_overwrite_a_file_it_cannot_add_to(
    tmp_path: Path, config: Path
) -> None:
    opml, target = tmp_path / "subs.opml", tmp_path / "list.yaml"
    opml.write_bytes(OPML)
    target.write_text("- keep me\n", encoding="utf-8")

    result = run_cli("feeds", "import", str(opml), "--output", str(target), "--config", str(config))

    assert_one_line(result, 2, "expected `feeds:` with a list")
    assert target.read_text(encoding="utf-8") == "- keep me\n"


def test_an_import_into_a_missing_folder_is_one_line(tmp_path: Path, config: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    out = tmp_path / "nowhere" / "feeds.yaml"
    result = run_cli("feeds", "import", str(opml), "--output", str(out), "--config", str(config))
    assert_one_line(result, 2, f"cannot write {out}")


def test_stdin_that_is_not_utf8_is_read_like_a_file() -> None:
    # Strict decoding, as under a UTF-8 locale (the C locale would hide the fault).
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "match", "--query", "NATO", "-"],
        input=b"\xff\xfe NATO summit\nbody",
        capture_output=True,
        check=False,
        env=env,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert b"MATCH query" in result.stdout


@pytest.mark.parametrize("url", ["http://[::1", "https://[nope]/x"])
def test_a_malformed_link_is_refused_by_the_guard_not_raised_as_a_crash(url: str) -> None:
    # From a feed, such a link used to fail the item (ValueError) until it was dead-lettered.
    with pytest.raises(BlockedAddressError, match="not a valid URL"):
        check_url(url)


@pytest.mark.parametrize("command", [["run"], ["run", "--once"], ["worker"], ["status"]])
def test_an_unreachable_redis_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    # `run` used to start its roles anyway, each failing and being restarted for ever.
    config = tmp_path / "c.yaml"
    config.write_text("redis_url: redis://127.0.0.1:1/0\n", encoding="utf-8")
    result = run_cli(*command, "--config", str(config), timeout=60)
    assert_one_line(result, 1, "cannot reach Redis at redis://127.0.0.1:1/0")
