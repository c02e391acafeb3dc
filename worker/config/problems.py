"""Where a config value came from, and problems rendered as `<file>:<line>: <field>: <message>`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# A place in the merged config data: section names, mapping keys and list indices.
DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """A file (as the user named it) and a 1-based line; no line for whole files or the env."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, tied to the place a user must edit."""

    origin: Origin
    path: DataPath
    message: str

    def render(self) -> str:
        field = format_path(self.path)
        where = f"{self.origin}: {field}" if field else str(self.origin)
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int]:
        return (self.origin.file, self.origin.line or 0)


def format_path(path: DataPath) -> str:
    """`("watchlists", 1, "query")` -> `watchlists[1].query`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def locate(origins: Mapping[DataPath, Origin], path: DataPath, default: Origin) -> Origin:
    """The origin of `path`, else of its nearest ancestor that has one (e.g. a missing field)."""
    for end in range(len(path), -1, -1):
        found = origins.get(path[:end])
        if found is not None:
            return found
    return default


def render_all(problems: list[Problem]) -> list[str]:
    """Rendered problems, ordered by file and line so they read top to bottom."""
    return [p.render() for p in sorted(problems, key=Problem.sort_key)]
