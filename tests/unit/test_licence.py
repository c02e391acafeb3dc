"""Both licences are declared: the package's SPDX expression, its licence files, the README."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_declares_the_code_and_the_data_licence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT AND CC-BY-SA-4.0"
    assert project["license-files"] == ["LICENSE", "NOTICE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    assert "worker/rules/word_frequencies.txt" in notice and "CC BY-SA 4.0" in notice
    assert "wordfreq" in notice and "Robyn Speer" in notice


def test_readme_has_a_licence_section_with_the_attribution() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("\n## Licence\n", 1)[1].split("\n## ", 1)[0].split())
    for needed in ("MIT", "worker/rules/word_frequencies.txt", "CC BY-SA 4.0", "wordfreq",
                   "Robyn Speer", "MIT AND CC-BY-SA-4.0"):  # fmt: skip
        assert needed in section, needed
