"""The syntax tree of a watchlist query.

Leaves hold words already folded (see `worker.rules.text.fold`), so evaluation never folds again.
`raw` (the query text the node came from) and `position` (its offset in the query) are kept for
error messages, but take no part in equality: `parse_query("NATO") == Term("nato")`.

- A leaf's `field` is "" for the title and body together, else one of TEXT_FIELDS; the parser
  pushes `title:(a OR b)` down into its leaves.
- A Term whose word holds `*` or `?` is a wildcard (folded words never contain those characters).
- `exact` holds the words as written (NFC) for the case-sensitive form `=NATO`.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import TypeAlias

TEXT_FIELDS: tuple[str, ...] = ("title", "body", "author", "feed")
META_FIELDS: tuple[str, ...] = ("site", "lang")
WILDCARDS = "*?"


@dataclass(frozen=True)
class Term:
    """One word, matched as a whole word (or a wildcard pattern of one word)."""

    word: str
    raw: str = _field(default="", compare=False)
    position: int = _field(default=0, compare=False)
    field: str = ""
    exact: str = ""

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.word or "?" in self.word


@dataclass(frozen=True)
class Phrase:
    """Words that occur consecutively, or with `slop` set (`"a b"~5`) all within a stretch of
    len(words) + slop words, in any order."""

    words: tuple[str, ...]
    raw: str = _field(default="", compare=False)
    position: int = _field(default=0, compare=False)
    field: str = ""
    exact: tuple[str, ...] = ()
    slop: int | None = None


@dataclass(frozen=True)
class Meta:
    """`site:` (the domain or a parent domain) or `lang:` (the language or a region of it)."""

    field: str
    value: str
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    child: Node
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Near:
    """`left NEAR/n right`: at most n words between the two (ONEAR: left comes first).

    Each side is a leaf or an Or of leaves (the parser checks)."""

    left: Node
    right: Node
    distance: int
    ordered: bool = False
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class AtLeast:
    """`atleast(n, a, "b c")`: the leaves occur n times or more in all (title and body)."""

    count: int
    children: tuple[Leaf, ...]
    position: int = _field(default=0, compare=False)


Node: TypeAlias = Term | Phrase | Meta | And | Or | Not | Near | AtLeast
Leaf: TypeAlias = Term | Phrase


def leaf_words(leaf: Leaf) -> tuple[str, ...]:
    """The folded words a leaf needs, in order: a term is a phrase of one word."""
    return (leaf.word,) if isinstance(leaf, Term) else leaf.words


def near_side(node: Node) -> tuple[Leaf, ...]:
    """The leaves of one side of a Near (a leaf, or an Or of leaves)."""
    if isinstance(node, Term | Phrase):
        return (node,)
    assert isinstance(node, Or)
    return tuple(child for child in node.children if isinstance(child, Term | Phrase))


def true_when_empty(node: Node) -> bool:
    """Whether `node` matches a document with no words at all.

    Such a query (`NOT x`, `a OR NOT b`) would match almost every article, and no word could
    select the rules worth evaluating, so the parser refuses it.
    """
    if isinstance(node, Not):
        return not true_when_empty(node.child)
    if isinstance(node, And):
        return all(true_when_empty(child) for child in node.children)
    if isinstance(node, Or):
        return any(true_when_empty(child) for child in node.children)
    return False


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
    if isinstance(node, Term | Phrase | Meta):
        return _render_leaf(node)
    if isinstance(node, Not):
        return "NOT " + _wrapped(node.child)
    if isinstance(node, Near):
        operator = f" {'ONEAR' if node.ordered else 'NEAR'}/{node.distance} "
        return _wrapped(node.left) + operator + _wrapped(node.right)
    if isinstance(node, AtLeast):
        return f"atleast({node.count}, " + ", ".join(map(render, node.children)) + ")"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(_wrapped(child) for child in node.children)


def _render_leaf(node: Term | Phrase | Meta) -> str:
    if isinstance(node, Meta):
        return f'{node.field}:"{node.value}"'
    prefix = f"{node.field}:" if node.field else ""
    if isinstance(node, Term):
        return prefix + (f"={node.exact}" if node.exact else node.word)
    words = node.exact or node.words
    slop = "" if node.slop is None else f"~{node.slop}"
    return prefix + ("=" if node.exact else "") + '"' + " ".join(words) + '"' + slop


def _wrapped(node: Node) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, And | Or | Near) else text
