"""Evaluate a query tree against a Document, reporting where it matched.

Each leaf is true when its words occur (consecutively, for a phrase) in the title or in the body.
Alongside each node's truth value travels its *evidence*: the spans of the leaves that make it
have that value. A true leaf's evidence is its first occurrence in each field; NOT flips the
value and keeps the evidence; a true AND or a false OR needs all its children, so it keeps all
their evidence; a true OR keeps that of every true child; a false AND keeps that of its first
false child. At a true root, the evidence therefore comes only from leaves under an even number of
NOTs (the positive leaves), and it is never empty, because the parser refuses queries that match
an empty document (see `worker.rules.ast.true_when_empty`).
"""

from __future__ import annotations

from typing import NamedTuple, assert_never

from worker.rules.ast import And, Leaf, Node, Not, Or, Phrase, Term, leaf_words
from worker.rules.document import FIELDS, Document
from worker.rules.hits import Hit, make_hit

MAX_HITS = 10


class Span(NamedTuple):
    """Characters [start, end) of one field; sorts title first, then by position."""

    field_rank: int
    start: int
    end: int


class Outcome(NamedTuple):
    value: bool
    evidence: tuple[Span, ...]


def match(node: Node, doc: Document) -> list[Hit]:
    """The hits of `node` in `doc`, at most MAX_HITS; an empty list means no match."""
    outcome = evaluate(node, doc)
    if not outcome.value:
        return []
    spans = sorted(set(outcome.evidence))[:MAX_HITS]
    return [_hit(span, doc) for span in spans]


def matches(node: Node, doc: Document) -> bool:
    """Whether `node` matches `doc`, without building hits."""
    return evaluate(node, doc).value


def evaluate(node: Node, doc: Document) -> Outcome:
    """Truth value of `node` on `doc` and the spans that make it so (see the module doc)."""
    if isinstance(node, Term | Phrase):
        return _leaf(node, doc)
    if isinstance(node, Not):
        inner = evaluate(node.child, doc)
        return Outcome(not inner.value, inner.evidence)
    if isinstance(node, And):
        return _combine(node.children, doc, decisive=False)
    if isinstance(node, Or):
        return _combine(node.children, doc, decisive=True)
    assert_never(node)


def _combine(children: tuple[Node, ...], doc: Document, decisive: bool) -> Outcome:
    """AND (decisive=False: a false child decides) or OR (decisive=True: a true child decides).

    An AND stops at its first false child; an OR goes on to report every true child.
    """
    deciding: list[Span] = []
    others: list[Span] = []
    settled = False
    for child in children:
        outcome = evaluate(child, doc)
        if outcome.value != decisive:
            others.extend(outcome.evidence)
            continue
        settled = True
        deciding.extend(outcome.evidence)
        if not decisive:
            break
    if settled:
        return Outcome(decisive, tuple(deciding))
    return Outcome(not decisive, tuple(others))


def _leaf(leaf: Leaf, doc: Document) -> Outcome:
    words = leaf_words(leaf)
    spans: list[Span] = []
    for rank, name in enumerate(FIELDS):
        index = doc.index(name)
        first = index.find(words)
        if first is not None:
            last = first + len(words) - 1
            spans.append(Span(rank, index.tokens[first].start, index.tokens[last].end))
    return Outcome(bool(spans), tuple(spans))


def _hit(span: Span, doc: Document) -> Hit:
    name = FIELDS[span.field_rank]
    return make_hit(name, doc.index(name), span.start, span.end)
