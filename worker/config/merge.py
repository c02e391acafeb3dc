"""Merge the documents of a config directory into one.

List sections (feeds, watchlists, webhooks) are concatenated in file order; mapping sections are
merged key by key. A setting given in two files is an error naming both, because silently letting
one file win would hide a mistake.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from worker.config.problems import DataPath, Origin, Problem
from worker.config.yamlsource import Document


def merge_documents(documents: list[Document]) -> tuple[Document, list[Problem]]:
    """One document holding every section of `documents`, and the conflicts found."""
    merger = _Merger()
    for document in documents:
        merger.add(document)
    return merger.merged, merger.problems


class _Merger:
    def __init__(self) -> None:
        self.merged = Document()
        self.problems: list[Problem] = []

    def add(self, document: Document) -> None:
        offsets = {
            key: len(current)
            for key, value in document.data.items()
            if isinstance(value, list) and isinstance(current := self.merged.data.get(key), list)
        }
        self.merged.problems += [
            replace(p, path=_shifted(p.path, offsets)) for p in document.problems
        ]
        for key, value in document.data.items():
            current = self.merged.data.get(key)
            if isinstance(current, list) and isinstance(value, list):
                _copy_origins(document, self.merged, (key,), offset=len(current))
                current.extend(value)
            else:
                self._merge_key(document, (), self.merged.data, key)

    def _merge_key(
        self, document: Document, path: DataPath, target: dict[str, Any], key: str
    ) -> None:
        value = _at(document.data, path)[key]
        child = (*path, key)
        if key not in target:
            target[key] = value
            _copy_origins(document, self.merged, child)
        elif isinstance(target[key], dict) and isinstance(value, dict):
            for inner in value:
                self._merge_key(document, child, target[key], inner)
        else:
            self.problems.append(_conflict(self.merged, document, child))


def _at(data: dict[str, Any], path: DataPath) -> dict[str, Any]:
    for part in path:
        data = data[str(part)]
    return data


def _shifted(path: DataPath, offsets: dict[str, int]) -> DataPath:
    """`path` once the list sections named in `offsets` are appended that many items in."""
    if len(path) < 2 or path[0] not in offsets:
        return path
    return _moved(path, path[:1], offsets[str(path[0])]) or path


def _copy_origins(source: Document, target: Document, prefix: DataPath, offset: int = 0) -> None:
    """Copy the origins under `prefix`, shifting list indices right after it by `offset`."""
    for path, origin in source.origins.items():
        moved = _moved(path, prefix, offset)
        if moved is not None:
            target.origins.setdefault(moved, origin)


def _moved(path: DataPath, prefix: DataPath, offset: int) -> DataPath | None:
    """Where `path` lands once its section is appended `offset` items in; None if not under it."""
    size = len(prefix)
    if path[:size] != prefix:
        return None
    if not offset:
        return path
    if len(path) == size:
        return None  # a concatenated section keeps the origin of its first file
    index = path[size]
    assert isinstance(index, int)  # a list section's children are indices
    return (*prefix, index + offset, *path[size + 1 :])


def _conflict(merged: Document, document: Document, path: DataPath) -> Problem:
    first = merged.origins.get(path, Origin("another file"))
    second = document.origins.get(path, Origin("this file"))
    message = f"defined in both {first} and {second}; define it in one file only"
    return Problem(second, path, message)
