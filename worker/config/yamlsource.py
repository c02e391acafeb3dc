"""Read one YAML file into plain data plus the file and line of every value in it.

PyYAML's composer gives us nodes with start marks; we build the Python values ourselves so each
value's data path can be tied to the line a user must edit. `${VAR}` is expanded here, where the
line is still known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from worker.config.problems import DataPath, Origin, Problem

# `${NAME}` is replaced, `${NAME:-default}` falls back to `default` when NAME is unset or empty
# (as in a shell), and `$${` is the escape for a literal `${`. Any other `${` is an error, so a
# mistyped reference is not passed on as literal text to fail later in a confusing way.
_REFERENCE = re.compile(
    r"(?P<escape>\$\$\{)"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<other>\$\{[^}]*\}?)"
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Values an alias may add when it is used again (each use builds its values again). Real configs
# use aliases for a few shared settings; an alias bomb (aliases of lists of aliases, nine levels
# in 300 bytes) would build billions of values, so building stops past the file's own nodes plus
# this many, with the line of the value that went over.
MAX_ALIAS_VALUES = 100_000


class _TooManyValues(Exception):
    """Building went over the budget; `line` is that of the innermost key being built (where
    the alias that expands too far is used), filled in on the way out."""

    line: int | None = None


@dataclass
class Document:
    """Config data, where each value came from, and problems with single values in it."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[DataPath, Origin] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Expansion:
    """A value with its variable references replaced, and what could not be replaced."""

    text: str
    missing: list[str] = field(default_factory=list)  # unset variables without a default
    unsupported: list[str] = field(default_factory=list)  # `${...}` of no supported form


def expand_variables(text: str, env: Mapping[str, str]) -> Expansion:
    """`text` with `${VAR}` and `${VAR:-default}` replaced from `env`."""
    result = Expansion(text)

    def replace(match: re.Match[str]) -> str:
        if match["escape"]:
            return "${"
        if match["other"]:
            result.unsupported.append(match["other"])
            return match["other"]
        name, default = match["name"], match["default"]
        if default is not None:
            return env.get(name) or default
        if name in env:
            return env[name]
        result.missing.append(name)
        return match.group(0)

    result.text = _REFERENCE.sub(replace, text)
    return result


def read_document(path: Path, env: Mapping[str, str]) -> tuple[Document | None, list[Problem]]:
    """Parse `path`; None and the reason when it is unusable as a whole (syntax, not a mapping).

    Problems name the file exactly as given, so messages match what the user typed.
    """
    label = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        return _Builder(label, env).document(root)
    except _TooManyValues as exc:
        message = (
            f"aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values beyond the file's"
            " own: refused (an alias bomb?)"
        )
        return None, [Problem(Origin(label, exc.line), (), message)]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(label, exc)]
    except yaml.YAMLError as exc:
        return None, [Problem(Origin(label), (), f"YAML error: {exc}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(Origin(label), (), f"cannot read file: {exc}")]


def _syntax_problem(label: str, exc: yaml.MarkedYAMLError) -> Problem:
    # Only the problem text and position: the quoted snippet could hold a secret.
    mark = exc.problem_mark or exc.context_mark
    line = None if mark is None else mark.line + 1
    column = "" if mark is None else f" (column {mark.column + 1})"
    what = exc.problem or exc.context or "invalid YAML"
    return Problem(Origin(label, line), (), f"YAML syntax error: {what}{column}")


def _distinct_nodes(root: Node) -> int:
    """How many nodes the file holds, each counted once however many aliases name it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            stack.extend(child for pair in node.value for child in pair)
    return len(seen)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    """Turns a node tree into plain values, recording origins and problems on the way."""

    def __init__(self, label: str, env: Mapping[str, str]) -> None:
        self.label = label
        self.env = env
        self.doc = Document()
        self._constructor = SafeConstructor()
        self._building: set[int] = set()  # ids of nodes being built, to stop recursive aliases
        self._budget = 0  # values left to build, each use of an alias counted (document())

    def document(self, root: Node | None) -> tuple[Document | None, list[Problem]]:
        if root is None:  # an empty file contributes nothing, which is fine
            return self.doc, []
        if not isinstance(root, MappingNode):
            kind = "a list" if isinstance(root, SequenceNode) else "a single value"
            message = f"the top level must be a mapping of sections (feeds:, ...), not {kind}"
            return None, [Problem(Origin(self.label, _line(root)), (), message)]
        self._budget = _distinct_nodes(root) + MAX_ALIAS_VALUES
        # A section left empty (`webhooks:` with every entry commented out) means "not set".
        sections = self._mapping(root, ())
        self.doc.data = {key: value for key, value in sections.items() if value is not None}
        return self.doc, []

    def _problem(self, line: int, path: DataPath, message: str) -> None:
        self.doc.problems.append(Problem(Origin(self.label, line), path, message))

    def _build(self, node: Node, path: DataPath, line: int) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise _TooManyValues
        self.doc.origins[path] = Origin(self.label, line)
        if id(node) in self._building:
            self._problem(line, path, "an alias refers to itself")
            return None
        self._building.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [
                    self._build(item, (*path, i), _line(item)) for i, item in enumerate(node.value)
                ]
            return self._scalar(node, path, line)
        finally:
            self._building.discard(id(node))

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[str, Any]:
        self._check_duplicate_keys(node, path)
        self._constructor.flatten_mapping(node)  # applies `<<: *anchor` merge keys
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            entries[self._key(key_node)] = (key_node, value_node)  # later keys override merged ones
        built = {}
        for key, (key_node, value_node) in entries.items():
            try:
                built[key] = self._build(value_node, (*path, key), _line(key_node))
            except _TooManyValues as exc:
                exc.line = exc.line or _line(key_node)
                raise
        return built

    def _check_duplicate_keys(self, node: MappingNode, path: DataPath) -> None:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            if key in first_line:
                message = (
                    f"key {key!r} appears twice in one mapping (first on line {first_line[key]})"
                )
                self._problem(_line(key_node), (*path, key), message)
            first_line.setdefault(key, _line(key_node))

    def _key(self, node: Node) -> str:
        # The raw text, so keys such as `on` or `1` are not turned into booleans or numbers.
        return str(node.value) if isinstance(node, ScalarNode) else f"<{type(node).__name__}>"

    def _scalar(self, node: Node, path: DataPath, line: int) -> Any:
        value = self._constructor.construct_object(node, deep=True)
        if not isinstance(value, str):
            return value
        expansion = expand_variables(value, self.env)
        for name in expansion.missing:
            self._problem(line, path, f"environment variable {name} is not set")
        for reference in expansion.unsupported:
            message = (
                f"{reference!r} is not a variable reference; write ${{NAME}} or"
                " ${NAME:-default} (and $${ for a literal ${)"
            )
            self._problem(line, path, message)
        return expansion.text
