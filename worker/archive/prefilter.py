"""A full-text prefilter derived from a query's syntax tree: what an article *must* contain.

The database's full-text index narrows the candidates; the project's matcher decides. For the
results to agree exactly with alerting, the prefilter may only ever keep too much, never drop an
article the matcher would match, so it holds only what the query requires:

- a word requires itself; a wildcard its literal prefix (`olymp*` -> words starting `olymp`),
  nothing when it starts with a wildcard;
- a phrase (with or without slop) requires all its words; `a NEAR/n b` a word of each side;
- AND requires what each branch requires; OR requires one branch, so nothing if any branch
  requires nothing; `atleast(n, …)` one of its leaves;
- NOT, `site:` and `lang:` require nothing (they are left to the matcher).

Field restrictions (`title:x`) are dropped: the index holds every text field's words, a superset.
`None` means nothing can be required: the caller scans the time window instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from worker.rules.ast import And, AtLeast, Meta, Near, Node, Not, Or, Phrase, Term, near_side


@dataclass(frozen=True)
class Word:
    word: str  # folded, as the matcher's tokenizer produces it


@dataclass(frozen=True)
class Prefix:
    prefix: str  # folded, non-empty


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Filter, ...]


Filter: TypeAlias = Word | Prefix | AllOf | AnyOf


def prefilter(node: Node) -> Filter | None:
    """What an article must contain for `node` to match it; None when nothing is required."""
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Phrase):
        return _all([Word(word) for word in node.words])
    if isinstance(node, Not | Meta):
        return None
    if isinstance(node, Near):
        return _all([_any(near_side(node.left)), _any(near_side(node.right))])
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


def satisfied(condition: Filter, words: frozenset[str]) -> bool:
    """Whether an article with these indexed words passes (the reference the backends follow)."""
    if isinstance(condition, Word):
        return condition.word in words
    if isinstance(condition, Prefix):
        return any(word.startswith(condition.prefix) for word in words)
    if isinstance(condition, AllOf):
        return all(satisfied(part, words) for part in condition.parts)
    return any(satisfied(part, words) for part in condition.parts)
