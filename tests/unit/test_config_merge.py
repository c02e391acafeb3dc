"""Config directories (merging), `${VAR}` substitution, and the shipped config/."""

from __future__ import annotations

import base64
from pathlib import Path
from textwrap import dedent

import pytest

from worker.config import load_config
from worker.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()


def write(path: Path, text: str) -> Path:
    """Write `text`; an indented block starting with a newline is dedented and that newline dropped."""
    if text.startswith("\n "):
        text = dedent(text).lstrip("\n")
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env or {})
    return caught.value.problems


def test_directory_concatenates_lists_and_merges_mappings(tmp_path: Path) -> None:
    write(
        tmp_path / "10-feeds.yaml",
        """
        feeds:
          - url: https://a.org/rss
        delivery:
          timeout: 3s
        """,
    )
    write(
        tmp_path / "20-watch.yml",
        f"""
        feeds:
          - url: https://b.org/rss
        watchlists:
          - id: nato
            query: NATO
            notify: [ops]
        webhooks:
          - id: ops
            url: https://h.org/
            secret: {SECRET}
        delivery:
          jitter: 0.5
        """,
    )
    write(tmp_path / "notes.txt", "feeds: not yaml config\n")
    write(tmp_path / "old.yaml.bak", "feeds: [broken\n")
    settings = load_config(tmp_path, {})
    assert [f.url for f in settings.feeds] == ["https://a.org/rss", "https://b.org/rss"]
    assert settings.watchlists[0].notify == ["ops"]
    assert (settings.delivery.timeout, settings.delivery.jitter) == (3.0, 0.5)
    assert settings.summary() == "2 feeds, 1 watchlist, 1 webhook"


def test_lines_follow_the_file_after_concatenation(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "feeds:\n  - url: https://a.org/\n  - url: https://b.org/\n")
    second = write(tmp_path / "b.yaml", "\nfeeds:\n  - url: https://c.org/\n    interval: 1s\n")
    assert problems_of(tmp_path) == [f"{second}:4: feeds[2].interval: must be at least 30s"]


def test_duplicates_across_files_name_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", "watchlists:\n  - id: nato\n    query: NATO\n")
    second = write(
        tmp_path / "b.yaml", "watchlists:\n  - id: x\n    query: x\n  - id: nato\n    query: OTAN\n"
    )
    assert problems_of(tmp_path) == [
        f"{second}:4: watchlists[2].id: duplicate watchlist id 'nato'; first defined at {first}:2"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("one", "two", "field", "line_one", "line_two"),
    [
        ("delivery:\n  timeout: 3s\n", "\ndelivery:\n  timeout: 4s\n", "delivery.timeout", 2, 3),
        ("data_dir: a\n", "\n\ndata_dir: b\n", "data_dir", 1, 3),
        ("delivery:\n  retry_schedule: [1s]\n", "delivery:\n  retry_schedule: [2s]\n", "delivery.retry_schedule", 2, 2),
        ("feeds: []\n", "feeds:\n  url: https://a.org/\n", "feeds", 1, 1),
    ],
)  # fmt: skip
def test_a_setting_in_two_files_is_an_error_naming_both(
    tmp_path: Path, one: str, two: str, field: str, line_one: int, line_two: int
) -> None:
    first = write(tmp_path / "a.yaml", one)
    second = write(tmp_path / "b.yaml", two)
    assert problems_of(tmp_path) == [
        f"{second}:{line_two}: {field}: defined in both {first}:{line_one} and"
        f" {second}:{line_two}; define it in one file only"
    ]


def test_syntax_errors_in_several_files_are_all_reported(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", "feeds: [\n")
    second = write(tmp_path / "b.yaml", "log:\n  level: info\n bad\n")
    write(tmp_path / "c.yaml", "watchlists:\n  - id: x\n    query: x\n    notify: [elsewhere]\n")
    found = problems_of(tmp_path)
    assert [p.split(": ")[0] for p in found] == [f"{first}:2", f"{second}:3"]
    assert all("YAML syntax error" in p for p in found)


def test_variables_are_substituted_anywhere_in_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """
        redis_url: ${REDIS}
        feeds:
          - url: https://${HOST}/feeds/${HOST}.xml
            interval: ${POLL}
            tags: ["${TAG}", "$${TAG}"]
        webhooks:
          - id: ops
            url: https://h.org/
            secret: ${HOOK_SECRET}
        """,
    )
    env = {
        "REDIS": "redis://r:6379/0",
        "HOST": "news.org",
        "POLL": "2m",
        "TAG": "world",
        "HOOK_SECRET": SECRET,
    }
    settings = load_config(path, env)
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.feeds[0].url == "https://news.org/feeds/news.org.xml"
    assert settings.feeds[0].name == "news.org"
    assert settings.feeds[0].interval == 120.0
    assert settings.feeds[0].tags == ["world", "${TAG}"]
    assert settings.webhooks[0].secret.get_secret_value() == SECRET


def test_substituted_text_is_converted_like_written_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "worker:\n  concurrency: ${N}\nfetch:\n  allow_private_addresses: ${PRIVATE}\n",
    )
    settings = load_config(path, {"N": "8", "PRIVATE": "true"})
    assert settings.worker.concurrency == 8
    assert settings.fetch.allow_private_addresses is True
    assert problems_of(path, {"N": "many", "PRIVATE": "true"}) == [
        f"{path}:2: worker.concurrency: must be a valid integer, unable to parse string as an integer"
    ]


def test_empty_sections_mean_not_set(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "webhooks:\n#  - id: commented-out\nfeeds:\nlog:\n")
    write(tmp_path / "b.yaml", "feeds:\n  - url: https://a.org/\nlog:\n  level: debug\n")
    settings = load_config(tmp_path, {})
    assert (len(settings.feeds), settings.webhooks, settings.log.level) == (1, [], "debug")


def test_missing_variables_are_errors_without_follow_on_noise(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """
        feeds:
          - url: https://${HOST}/${PATH_PART}
        webhooks:
          - id: ops
            url: https://h.org/
            secret: ${WIREWATCH_WEBHOOK_SECRET}
        """,
    )
    assert problems_of(path, {"PATH": "/usr/bin"}) == [
        f"{path}:2: feeds[0].url: environment variable HOST is not set",
        f"{path}:2: feeds[0].url: environment variable PATH_PART is not set",
        f"{path}:6: webhooks[0].secret: environment variable WIREWATCH_WEBHOOK_SECRET is not set",
    ]


def test_missing_variable_in_second_file_keeps_its_place(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "feeds:\n  - url: https://a.org/\n")
    second = write(tmp_path / "b.yaml", "feeds:\n  - url: https://b.org/\n    tags: ['${TAG}']\n")
    assert problems_of(tmp_path) == [
        f"{second}:3: feeds[1].tags[0]: environment variable TAG is not set"
    ]


def test_shipped_config_loads_cleanly() -> None:
    settings = load_config(REPO / "config", {})
    assert len(settings.feeds) >= 5
    assert all(feed.interval == 600.0 and feed.tags for feed in settings.feeds)
    assert [w.id for w in settings.watchlists] == ["nato", "taiwan", "olympics"]
    assert all(w.notify == [] for w in settings.watchlists)
    assert settings.webhooks == []
    assert settings.redis_url is None
    assert settings.data_dir == REPO / "config" / "data"


def test_shipped_webhook_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    lines = (REPO / "config" / "wirewatch.yaml").read_text(encoding="utf-8").splitlines()
    start = lines.index("webhooks: []")
    lines[start] = "webhooks:"
    index = start + 1
    while lines[index].startswith("#  "):
        lines[index] = lines[index][1:]
        index += 1
    assert index > start + 1, "the commented webhook example should follow `webhooks: []`"
    path = tmp_path / "wirewatch.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_config(path, {"WIREWATCH_WEBHOOK_SECRET": SECRET})
    assert settings.webhooks[0].secret.get_secret_value() == SECRET
    assert problems_of(path)[0].endswith("environment variable WIREWATCH_WEBHOOK_SECRET is not set")
