"""Loading one config file: defaults, every kind of problem with its file:line:field, secrets."""

from __future__ import annotations

import base64
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

from worker.config import FeedConfig, Settings, WatchlistConfig, load_config
from worker.errors import ConfigError

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def write(path: Path, text: str) -> Path:
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path | str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """
        feeds:
          - url: https://news.example.org/rss
        watchlists:
          - id: nato
            query: NATO
        """,
    )
    settings = load_config(path, {})
    assert settings.feeds == [
        FeedConfig(url="https://news.example.org/rss", name="news.example.org", interval=900.0)
    ]
    assert settings.watchlists == [WatchlistConfig(id="nato", name="nato", query="NATO")]
    assert settings.redis_url is None
    assert settings.redis_prefix == "ww"
    assert settings.delivery.retry_schedule == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert (settings.delivery.timeout, settings.delivery.jitter) == (10.0, 0.1)
    assert settings.fetch.timeout == 30.0
    assert settings.fetch.connect_timeout == 10.0
    assert settings.fetch.max_bytes == 10_000_000
    assert settings.fetch.max_redirects == 5
    assert settings.fetch.allow_private_addresses is False
    assert settings.fetch.user_agent == "wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
    assert settings.scheduler.max_backoff == 6 * 3600
    assert settings.scheduler.seen_retention == 90 * 86400
    assert (settings.worker.concurrency, settings.worker.batch) == (4, 16)
    assert settings.dedupe.window == 7 * 86400
    assert settings.dedupe.story_updated_after is None
    assert (settings.log.level, settings.log.format) == ("info", "auto")


def test_full_config_converts_units(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        f"""
        redis_url: rediss://user:pw@redis.example:6380/0
        redis_prefix: ww-test_1
        feeds:
          - url: https://news.example.org/rss
            name: Example News
            interval: 90s
            tags: [world, europe]
        watchlists:
          - id: taiwan
            name: Taiwan
            query: Taiwan OR Taipei
            notify: [ops]
        webhooks:
          - id: ops
            url: http://hooks.example.org/in
            secret: {SECRET}
        delivery:
          retry_schedule: [1s, 1m]
          timeout: 500ms
          jitter: 0
        fetch:
          max_bytes: 512KB
          allow_private_addresses: true
        scheduler:
          max_backoff: 1h30m
        worker:
          concurrency: 64
        log:
          level: DEBUG
          format: json
        """,
    )
    settings = load_config(path, {})
    assert settings.redis_url == "rediss://user:pw@redis.example:6380/0"
    assert settings.feeds[0].interval == 90.0
    assert settings.feeds[0].tags == ["world", "europe"]
    assert settings.watchlists[0].notify == ["ops"]
    assert settings.webhooks[0].secret.get_secret_value() == SECRET
    assert settings.delivery.retry_schedule == [1.0, 60.0]
    assert settings.delivery.timeout == 0.5
    assert settings.fetch.max_bytes == 512_000
    assert settings.fetch.allow_private_addresses is True
    assert settings.scheduler.max_backoff == 5400.0
    assert settings.log.level == "debug"
    assert settings.summary() == "1 feed, 1 watchlist, 1 webhook"


# Each case: a config with exactly one problem, and that problem after "<file>:".
BAD = [
    ("feeds:\n  - url: ftp://x.org/f\n", "2: feeds[0].url: URL must start with http:// or https:// (scheme is ftp)"),
    ("feeds:\n  - url: /relative/feed\n", "2: feeds[0].url: URL must start with http:// or https:// (scheme is none)"),
    ("feeds:\n  - url: 'https:///nohost'\n", "2: feeds[0].url: URL has no host"),
    ("feeds:\n  - name: x\n", "2: feeds[0].url: required field is missing"),
    ("feeds:\n  - url: https://a.org/\n    interval: 10s\n", "3: feeds[0].interval: must be at least 30s"),
    (
        "feeds:\n  - url: https://a.org/\n    interval: soon\n",
        "3: feeds[0].interval: invalid duration 'soon'; use a number of seconds or a number with a unit: 500ms, 90s, 5m, 1h, 7d",
    ),
    (
        "feeds:\n  - url: https://a.org/\n    tag: [x]\n",
        "3: feeds[0].tag: unknown key; did you mean 'tags'?",
    ),
    (
        "feeds:\n  - url: https://a.org/\n  - url: https://a.org/\n",
        "3: feeds[1].url: duplicate feed URL 'https://a.org/'; first defined at {file}:2",
    ),
    ("feeds:\n  url: https://a.org/\n", "1: feeds: must be a valid list"),
    (
        "watchlists:\n  - id: Bad Id\n    query: a\n",
        "2: watchlists[0].id: 'Bad Id' is not a valid id; use lowercase letters, digits, '_' and '-', starting with a letter or digit",
    ),
    ("watchlists:\n  - id: a\n", "2: watchlists[0].query: required field is missing"),
    (
        "watchlists:\n  - id: a\n    query: a\n  - id: a\n    query: b\n",
        "4: watchlists[1].id: duplicate watchlist id 'a'; first defined at {file}:2",
    ),
    (
        "watchlists:\n  - id: a\n    query: a\n    notify: [ops]\n",
        "4: watchlists[0].notify[0]: unknown webhook id 'ops' (webhooks: none are defined)",
    ),
    (
        f"webhooks:\n  - id: Ops\n    url: https://h.org/\n    secret: {SECRET}\n",
        "2: webhooks[0].id: 'Ops' is not a valid id; use lowercase letters, digits, '_' and '-', starting with a letter or digit",
    ),
    (
        f"webhooks:\n  - id: ops\n    url: mailto:x@h.org\n    secret: {SECRET}\n",
        "3: webhooks[0].url: URL must start with http:// or https:// (scheme is mailto)",
    ),
    (
        f"webhooks:\n  - id: a\n    url: https://h.org/\n    secret: {SECRET}\n"
        f"  - id: a\n    url: https://h.org/\n    secret: {SECRET}\n",
        "5: webhooks[1].id: duplicate webhook id 'a'; first defined at {file}:2",
    ),
    ("webhooks:\n  - id: a\n    url: https://h.org/\n", "2: webhooks[0]: a standard webhook needs a secret (whsec_<base64>)"),
    ("webhooks:\n  - id: a\n    url: https://h.org/\n    format: teams\n", "4: webhooks[0].format: must be 'standard', 'slack' or 'discord'"),
    ("webhooks:\n  - id: a\n    url: https://h.org/\n    format: slack\n    digest: 1s\n", "5: webhooks[0].digest: must be at least 10s"),
    ("delivery:\n  retry_schedule: [5s, 0s]\n", "2: delivery.retry_schedule[1]: duration must be greater than zero, got '0s'"),
    ("delivery:\n  jitter: 1.5\n", "2: delivery.jitter: must be less than or equal to 1"),
    ("delivery:\n  timeout: -1\n", "2: delivery.timeout: duration must be greater than zero, got -1"),
    ("fetch:\n  max_bytes: 5XB\n", "2: fetch.max_bytes: invalid size '5XB'; use a number of bytes or a number with a unit: 512KB, 5MB, 10MiB"),
    ("fetch:\n  max_redirects: -1\n", "2: fetch.max_redirects: must be greater than or equal to 0"),
    ("fetch:\n  allow_private_addresses: perhaps\n", "2: fetch.allow_private_addresses: must be a valid boolean, unable to interpret input"),
    ("scheduler:\n  unhealthy_notify: [pager]\n", "2: scheduler.unhealthy_notify[0]: unknown webhook id 'pager' (webhooks: none are defined)"),
    ("scheduler:\n  jiter: 0.2\n", "2: scheduler.jiter: unknown key; did you mean 'jitter'?"),
    ("worker:\n  concurrency: 0\n", "2: worker.concurrency: must be greater than or equal to 1"),
    ("worker:\n  concurrency: 65\n", "2: worker.concurrency: must be less than or equal to 64"),
    ("log:\n  level: loud\n", "2: log.level: must be 'debug', 'info', 'warning' or 'error'"),
    ("log:\n  format: xml\n", "2: log.format: must be 'auto', 'json' or 'console'"),
    ("\nredis_url: http://cache:6379\n", "2: redis_url: must start with redis://, rediss://, unix://, redis+cluster:// or rediss+cluster://"),
    ("\nredis_url: redis+cluster://a:1,b\n", "2: redis_url: a cluster URL names its nodes as host:port[,host:port...], not 'b'"),
    ("\nredis_prefix: 'a b'\n", "2: redis_prefix: use only letters, digits, '_' and '-'"),
    (
        "\nfeed: []\n",
        "2: feed: unknown key; did you mean 'feeds'?",
    ),
    (
        "\nsources: []\n",
        "2: sources: unknown key; expected one of: redis_url, redis_prefix, data_dir, feeds, watchlists,"
        " webhooks, delivery, fetch, scheduler, worker, queue, dedupe, websub, archive, web, log",
    ),
    ("log:\n  level: info\n  level: debug\n", "3: log.level: key 'level' appears twice in one mapping (first on line 2)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_each_problem_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "watch.yaml"
    path.write_text(text, encoding="utf-8")
    assert problems_of(path) == [f"{path}:" + expected.format(file=path)]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2g=", "secret must look like whsec_<base64> (Standard Webhooks form)"),
        ("whsec_not*base64!!", "secret after whsec_ is not valid base64"),
        ("whsec_" + base64.b64encode(b"s" * 23).decode(), "secret decodes to 23 bytes; it must be 24 to 64"),
        ("whsec_" + base64.b64encode(b"s" * 65).decode(), "secret decodes to 65 bytes; it must be 24 to 64"),
    ],
)  # fmt: skip
def test_bad_secret_is_reported_without_its_value(
    tmp_path: Path, secret: str, message: str
) -> None:
    path = write(
        tmp_path / "hooks.yaml",
        f"""
        webhooks:
          - id: ops
            url: https://h.org/
            secret: "{secret}"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.problems == [f"{path}:4: webhooks[0].secret: {message}"]
    assert secret not in str(caught.value)
    assert secret[6:] not in str(caught.value)


def test_valid_secret_never_shows_in_repr_or_str(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hooks.yaml",
        f"""
        webhooks:
          - id: ops
            url: https://h.org/
            secret: {SECRET}
        """,
    )
    settings = load_config(path, {})
    for shown in (
        repr(settings),
        str(settings),
        repr(settings.webhooks),
        settings.model_dump_json(),
    ):
        assert SECRET not in shown
        assert SECRET[6:] not in shown
    assert settings.webhooks[0].secret.get_secret_value() == SECRET


def test_query_problem_keeps_position_and_caret(tmp_path: Path) -> None:
    path = write(
        tmp_path / "watch.yaml",
        """
        watchlists:
          - id: a
            query: ok
          - id: b
            query: (NATO OR Taiwan
        """,
    )
    assert problems_of(path) == [
        f"{path}:5: watchlists[1].query: unclosed '(' at position 0\n  (NATO OR Taiwan\n  ^"
    ]


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """
        log:
          level: loud
        feeds:
          - url: https://a.org/
            interval: 1s
          - url: https://a.org/
        watchlists:
          - id: a
            query: a AND
            notify: [nobody]
        """,
    )
    assert [p.split(": ")[0:2] for p in problems_of(path)] == [
        [f"{path}:2", "log.level"],
        [f"{path}:5", "feeds[0].interval"],
        [f"{path}:6", "feeds[1].url"],
        [f"{path}:9", "watchlists[0].query"],
        [f"{path}:10", "watchlists[0].notify[0]"],
    ]


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "feeds:\n  - url: https://a.org/\n   name: [oops\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3: YAML syntax error: ")
    assert "(column" in problem


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "- url: https://a.org/\n")
    assert problems_of(path) == [
        f"{path}:1: the top level must be a mapping of sections (feeds:, ...), not a list"
    ]
    write(path, "just words\n")
    assert problems_of(path) == [
        f"{path}:1: the top level must be a mapping of sections (feeds:, ...), not a single value"
    ]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert problems_of(missing) == [f"{missing}: config file or directory not found"]
    (tmp_path / "empty").mkdir()
    assert problems_of(tmp_path / "empty") == [
        f"{tmp_path / 'empty'}: directory has no *.yaml or *.yml files"
    ]


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path / "c.yaml", "# nothing yet\n"), {})
    assert settings == Settings(data_dir=tmp_path / "data")
    assert settings.summary() == "0 feeds, 0 watchlists, 0 webhooks"


def test_relative_path_is_named_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    write(tmp_path / "config" / "watch.yaml", "watchlists:\n  - id: a\n    query: ((a)\n")
    monkeypatch.chdir(tmp_path)
    assert problems_of("config/watch.yaml")[0].startswith(
        "config/watch.yaml:3: watchlists[0].query: unclosed '(' at position 0"
    )
    assert problems_of(Path("config"))[0].startswith("config/watch.yaml:3: ")


def test_data_dir_is_relative_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    write(config / "a.yaml", "data_dir: state/../var\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config(config / "a.yaml", {}).data_dir == config / "var"
    assert load_config(config, {}).data_dir == config / "var"
    monkeypatch.chdir(tmp_path)
    assert load_config("etc", {}).data_dir == config / "var"
    write(config / "a.yaml", f"data_dir: {tmp_path / 'abs'}\n")
    assert load_config(config, {}).data_dir == tmp_path / "abs"


def test_redis_url_falls_back_to_env(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.yaml", "{}\n")
    assert load_config(empty, {}).redis_url is None
    assert load_config(empty, {"REDIS_URL": ""}).redis_url is None
    env = {"REDIS_URL": "redis://env-host:6379/1"}
    assert load_config(empty, env).redis_url == "redis://env-host:6379/1"
    own = write(tmp_path / "own.yaml", "redis_url: unix:///run/redis.sock\n")
    assert load_config(own, env).redis_url == "unix:///run/redis.sock"
    assert problems_of(empty, {"REDIS_URL": "http://nope"}) == [
        "environment variable REDIS_URL: redis_url: must start with redis://, rediss://,"
        " unix://, redis+cluster:// or rediss+cluster://"
    ]
    cluster = {"REDIS_URL": "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"}
    assert load_config(empty, cluster).redis_url == cluster["REDIS_URL"]


def test_settings_are_frozen_and_usable_without_files(tmp_path: Path) -> None:
    settings = Settings(feeds=[FeedConfig(url="https://a.org/feed")])
    assert settings.feeds[0].name == "a.org"
    assert settings.data_dir == Path("data")
    with pytest.raises(ValidationError):
        settings.redis_prefix = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="must be at least 30s"):
        FeedConfig(url="https://a.org/feed", interval=5)
    with pytest.raises(ValidationError, match="unclosed"):
        WatchlistConfig(id="a", query="(a")
