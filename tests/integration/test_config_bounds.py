"""A YAML alias bomb is refused quickly with its file and line; aliases in real use still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from worker.config import load_config
from worker.config.yamlsource import read_document


def alias_bomb(levels: int) -> str:
    """Aliases of lists of aliases: level n is nine copies of level n-1 (9**levels strings)."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    lines.append(f"feeds: *a{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60)
def test_wirewatch_check_refuses_a_nine_level_alias_bomb_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb(9))
    assert len(config.read_bytes()) < 500

    result = run_cli("check", "--config", str(config), timeout=50)

    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    # level 5 (9**6 values) is the first to go over the budget: the key on line 6 uses it
    assert f"{config}:6:" in output
    assert "alias bomb" in output


def test_the_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(alias_bomb(6))
    document, problems = read_document(config, {})
    assert document is None
    assert [(p.origin.line, "alias bomb" in p.message) for p in problems] == [(6, True)]


def test_aliases_for_shared_settings_still_load(tmp_path: Path) -> None:
    first = (
        "  - {url: 'https://a.example/f', tags: &shared [world, politics], interval: &often 10m}"
    )
    rest = [
        f"  - {{url: 'https://news{i}.example/feed', tags: *shared, interval: *often}}"
        for i in range(2000)
    ]
    config = tmp_path / "wirewatch.yaml"
    config.write_text("feeds:\n" + "\n".join([first, *rest]) + "\n")

    settings = load_config(config, {})

    assert len(settings.feeds) == 2001
    assert settings.feeds[-1].tags == ["world", "politics"]
    assert settings.feeds[-1].interval == 600.0
