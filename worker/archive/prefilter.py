"""A full-text prefilter derived from a query's syntax tree: what an article *must* contain.

The database's full-text index narrows the candidates; the project's matcher decides. For the
results to agree exactly with alerting, the prefilter may only ever keep too much, never drop an
article the matcher would match, so it holds only what the query requires:

- a word requires itself; a wildcard its literal prefix (`olymp*` -> words starting `olymp`),
  nothing when it starts with a wildcard;
- a phrase (with or without slop) requires all its words; `a NEAR/n b` a word of each side and,
  where it can be said, that the two sides lie close (`Close`: see below);
- AND requires what each branch requires; OR requires one branch, so nothing if any branch
  requires nothing; `atleast(n, …)` one of its leaves;
- NOT, `site:` and `lang:` require nothing (they are left to the matcher).

Field restrictions (`title:x`) are dropped: the index holds every text field's words, a superset.
`None` means nothing can be required: the caller scans the time window instead.

`Close` is the positional part of a NEAR: one run of consecutive tokens of each side within
`distance` words of each other. The index keeps each article's words in order (every text
section one after the other, `record.indexed_sequence`), so inside a section a word's position
there differs from the matcher's by the section's start only, and the distance between two
words is the same: an article the matcher keeps always passes. Across two sections (end of the
title, start of the body) the index may see a closeness the matcher does not: a candidate too
many, never one too few. A side it cannot express as runs (a sloppy phrase, a wildcard with no
literal prefix) and a NEAR with too many pairs of alternatives keep only the word requirement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from worker.rules.ast import (
    And,
    AtLeast,
    Leaf,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    near_side,
)


@dataclass(frozen=True)
class Word:
    word: str  # folded, as the matcher's tokenizer produces it


@dataclass(frozen=True)
class Prefix:
    prefix: str  # folded, non-empty


Token: TypeAlias = Word | Prefix
Run: TypeAlias = tuple[Token, ...]  # consecutive tokens: a term (one) or a phrase


@dataclass(frozen=True)
class Close:
    """Some run of `left` and some run of `right`, not overlapping, with at most `distance`
    words between them (`ordered`: the left one first). Always inside an AllOf that also
    requires the words, so a backend that cannot check positions may treat it as true."""

    left: tuple[Run, ...]
    right: tuple[Run, ...]
    distance: int
    ordered: bool


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Filter, ...]


Filter: TypeAlias = Word | Prefix | AllOf | AnyOf | Close

MAX_CLOSE_PAIRS = 16  # (left run, right run) pairs a Close may list; more: words only


def prefilter(node: Node) -> Filter | None:
    """What an article must contain for `node` to match it; None when nothing is required."""
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Phrase):
        return _all([Word(word) for word in node.words])
    if isinstance(node, Not | Meta):
        return None
    if isinstance(node, Near):
        return _near(node)
    if isinstance(node, And):
        return _all([prefilter(child) for child in node.children])
    if isinstance(node, Or | AtLeast):
        return _any(node.children)
    raise TypeError(f"unknown query node {type(node).__name__}")


def _term(term: Term) -> Filter | None:
    if not term.is_wildcard:
        return Word(term.word)
    literal = re.split("[*?]", term.word, maxsplit=1)[0]
    return Prefix(literal) if literal else None


def _near(node: Near) -> Filter | None:
    """A word of each side and, when the sides are runs, that two of them lie close."""
    words = _all([_any(near_side(node.left)), _any(near_side(node.right))])
    close = _close(node)
    if words is None or close is None:
        return words
    parts = words.parts if isinstance(words, AllOf) else (words,)
    return AllOf((*parts, close))


def _close(node: Near) -> Close | None:
    left, right = _runs(near_side(node.left)), _runs(near_side(node.right))
    if left is None or right is None or len(left) * len(right) > MAX_CLOSE_PAIRS:
        return None
    return Close(left, right, node.distance, node.ordered)


def _runs(leaves: tuple[Leaf, ...]) -> tuple[Run, ...] | None:
    """Each leaf as the run of tokens it occupies; None when one cannot be said."""
    runs: list[Run] = []
    for leaf in leaves:
        if isinstance(leaf, Phrase):
            if leaf.slop is not None:  # any order within a window: no run to look for
                return None
            runs.append(tuple(Word(word) for word in leaf.words))
            continue
        token = _term(leaf)
        if token is None:
            return None
        assert isinstance(token, Word | Prefix)
        runs.append((token,))
    return tuple(dict.fromkeys(runs))


def relaxed(condition: Filter | None) -> Filter | None:
    """`condition` without its positional parts (for articles whose positions are unknown)."""
    if condition is None or isinstance(condition, Close):
        return None
    if isinstance(condition, AllOf):
        return _all([relaxed(part) for part in condition.parts])
    if isinstance(condition, AnyOf):
        parts = [relaxed(part) for part in condition.parts]
        if any(part is None for part in parts):
            return None
        unique = tuple(dict.fromkeys(part for part in parts if part is not None))
        return unique[0] if len(unique) == 1 else AnyOf(unique)
    return condition


def has_close(condition: Filter | None) -> bool:
    if isinstance(condition, AllOf | AnyOf):
        return any(has_close(part) for part in condition.parts)
    return isinstance(condition, Close)


def _all(parts: list[Filter | None]) -> Filter | None:
    required = tuple(dict.fromkeys(part for part in parts if part is not None))
    if not required:
        return None
    return required[0] if len(required) == 1 else AllOf(required)


def _any(children: tuple[Node, ...] | list[Node]) -> Filter | None:
    parts = [prefilter(child) for child in children]
    if any(part is None for part in parts):
        return None
    unique = tuple(dict.fromkeys(part for part in parts if part is not None))
    return unique[0] if len(unique) == 1 else AnyOf(unique)


def satisfied(condition: Filter, sequence: Sequence[str]) -> bool:
    """Whether an article whose indexed words are `sequence` (in order) passes: the reference
    the backends follow."""
    if isinstance(condition, Word):
        return condition.word in sequence
    if isinstance(condition, Prefix):
        return any(word.startswith(condition.prefix) for word in sequence)
    if isinstance(condition, Close):
        return _close_in(condition, sequence)
    if isinstance(condition, AllOf):
        return all(satisfied(part, sequence) for part in condition.parts)
    return any(satisfied(part, sequence) for part in condition.parts)


def _close_in(close: Close, sequence: Sequence[str]) -> bool:
    lefts = [(i, i + len(run) - 1) for run in close.left for i in _starts(run, sequence)]
    rights = [(i, i + len(run) - 1) for run in close.right for i in _starts(run, sequence)]
    for first, last in lefts:
        for start, end in rights:
            if 0 <= start - last - 1 <= close.distance:
                return True
            if not close.ordered and 0 <= first - end - 1 <= close.distance:
                return True
    return False


def _starts(run: Run, sequence: Sequence[str]) -> list[int]:
    return [
        i
        for i in range(len(sequence) - len(run) + 1)
        if all(_token_is(token, sequence[i + k]) for k, token in enumerate(run))
    ]


def _token_is(token: Token, word: str) -> bool:
    return word == token.word if isinstance(token, Word) else word.startswith(token.prefix)
