"""Config edges a newcomer hit: `${VAR:-default}`, a malformed `redis_url`, where data goes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from worker.config import load_config
from worker.config.redisurl import check_redis_url
from worker.errors import ConfigError


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


def test_a_default_is_used_when_the_variable_is_unset_or_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "redis_prefix: ${PREFIX:-fallback}\nfeeds:\n  - url: https://${HOST:-a.example}/rss\n",
        encoding="utf-8",
    )

    unset = load_config(path, {})
    empty = load_config(path, {"PREFIX": ""})
    given = load_config(path, {"PREFIX": "mine", "HOST": "b.example"})

    assert (unset.redis_prefix, unset.feeds[0].url) == ("fallback", "https://a.example/rss")
    assert empty.redis_prefix == "fallback"
    assert (given.redis_prefix, given.feeds[0].url) == ("mine", "https://b.example/rss")


def test_an_empty_default_and_the_escape_are_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example/rss\n    name: 'x${NONE:-}y $${LITERAL:-z}'\n",
        encoding="utf-8",
    )
    assert load_config(path, {}).feeds[0].name == "xy ${LITERAL:-z}"


@pytest.mark.parametrize("reference", ["${HOST:?required}", "${1HOST}", "${HOST", "${}"])
def test_an_unsupported_reference_is_an_error_on_its_line(tmp_path: Path, reference: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"feeds:\n  - url: 'https://a.example/rss?q={reference}'\n", encoding="utf-8")
    assert problems_of(path) == [
        f"{path}:2: feeds[0].url: {reference!r} is not a variable reference;"
        " write ${NAME} or ${NAME:-default} (and $${ for a literal ${)"
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://cache:6379/10x", "the database after the host must be a database number such as /0, not '10x'"),
        ("redis://cache:6379/-1", "the database after the host must be a database number such as /0, not '-1'"),
        ("rediss://cache/0?db=two", "the db parameter must be a database number such as /0, not 'two'"),
        ("unix:///run/redis.sock?db=1x", "the db parameter must be a database number such as /0, not '1x'"),
        ("redis://cache:63a79/0", "the port must be a number from 0 to 65535"),
        ("unix://", "a unix:// URL needs the socket's path (unix:///run/redis.sock)"),
    ],
)  # fmt: skip
def test_check_refuses_a_redis_url_redis_py_cannot_use(
    tmp_path: Path, url: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"redis_url: '{url}'\n", encoding="utf-8")

    checked = run_cli("check", "--config", str(path))

    assert checked.returncode == 2
    assert f"{path}:1: redis_url: {message}" in checked.stderr


@pytest.mark.parametrize(
    "url",
    ["redis://cache:6379/10", "redis://cache", "redis://cache/", "rediss://u:p@h:6380/0?db=3",
     "unix:///run/redis.sock", "unix:///run/redis.sock?db=2"],
)  # fmt: skip
def test_usable_redis_urls_pass(url: str) -> None:
    assert check_redis_url(url) == url


def test_data_dir_comes_from_the_environment_over_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data_dir: data\n", encoding="utf-8")

    assert load_config(path, {}).data_dir == tmp_path / "data"
    assert load_config(path, {"WIREWATCH_DATA_DIR": "/var/lib/wirewatch"}).data_dir == Path(
        "/var/lib/wirewatch"
    )
    assert load_config(path, {"WIREWATCH_DATA_DIR": ""}).data_dir == tmp_path / "data"
