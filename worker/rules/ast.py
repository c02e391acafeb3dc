"""The syntax tree of a watchlist query.

Leaves hold words already folded (see `worker.rules.text.fold`), so evaluation never folds again.
`raw` (the query text the node came from) and `position` (its offset in the query) are kept for
error messages and later features such as case-sensitive `=NATO`, but take no part in equality:
`parse_query("NATO") == Term("nato")`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias


@dataclass(frozen=True)
class Term:
    """One word, matched as a whole word."""

    word: str
    raw: str = field(default="", compare=False)
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Phrase:
    """Words that must occur consecutively (punctuation and line breaks between them allowed)."""

    words: tuple[str, ...]
    raw: str = field(default="", compare=False)
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    position: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    position: int = field(default=0, compare=False)


Node: TypeAlias = Term | Phrase | And | Or | Not
Leaf: TypeAlias = Term | Phrase


def leaf_words(leaf: Leaf) -> tuple[str, ...]:
    """The folded words a leaf needs, in order: a term is a phrase of one word."""
    return (leaf.word,) if isinstance(leaf, Term) else leaf.words


def true_when_empty(node: Node) -> bool:
    """Whether `node` matches a document with no words at all.

    Such a query (`NOT x`, `a OR NOT b`) would match almost every article, and no word could
    select the rules worth evaluating, so the parser refuses it.
    """
    if isinstance(node, Term | Phrase):
        return False
    if isinstance(node, Not):
        return not true_when_empty(node.child)
    if isinstance(node, And):
        return all(true_when_empty(child) for child in node.children)
    return any(true_when_empty(child) for child in node.children)


def blame_when_empty(node: Node) -> int:
    """Query position of the part that makes `node` true on an empty document (see above)."""
    if isinstance(node, Not):
        return node.position
    if isinstance(node, And | Or):
        culprit = next(child for child in node.children if true_when_empty(child))
        return blame_when_empty(culprit)
    return node.position


def render(node: Node) -> str:
    """Canonical query text for `node`: parsing it gives back an equal tree."""
    if isinstance(node, Term):
        return node.word
    if isinstance(node, Phrase):
        return '"' + " ".join(node.words) + '"'
    if isinstance(node, Not):
        return "NOT " + _wrapped(node.child)
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(_wrapped(child) for child in node.children)


def _wrapped(node: Node) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, And | Or) else text
