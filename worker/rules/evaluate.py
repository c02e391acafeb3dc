"""Evaluate a query tree against a Document, reporting where it matched.

This is the plain reference evaluator: it walks the whole tree for one rule. The Matcher uses it
only to explain rules that its compiled engine found true (and tests check the two agree).

Each leaf is true when its words occur (consecutively, for a phrase) in the sections its field
names (title and body by default). A NEAR's evidence is its closest-found pair per section, an
atleast's the occurrences it counted, a site: or lang: condition's the document's value.
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

from worker.rules.ast import And, AtLeast, Leaf, Meta, Near, Node, Not, Or, Phrase, Term
from worker.rules.document import Document, Section
from worker.rules.hits import Hit, make_hit
from worker.rules.occurrences import (
    Interval,
    atleast_occurrences,
    atleast_true,
    meta_true,
    near_pairs,
    occurrences,
)

MAX_HITS = 10


class Span(NamedTuple):
    """Characters [start, end) of one section; sorts title first, then by position."""

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
    return _special(node, doc)


def _special(node: Near | AtLeast | Meta, doc: Document) -> Outcome:
    if isinstance(node, Near):
        return _near(node, doc)
    if isinstance(node, AtLeast):
        return _atleast(node, doc)
    if isinstance(node, Meta):
        return _meta(node, doc)
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
    spans: list[Span] = []
    for section in doc.scope(leaf.field):
        found = occurrences(leaf, section.field_index)
        if found:
            spans.append(_span(section, found[0]))
    return Outcome(bool(spans), tuple(spans))


def _near(node: Near, doc: Document) -> Outcome:
    spans = [_span(s, i) for s, left, right in near_pairs(node, doc) for i in (left, right)]
    return Outcome(bool(spans), tuple(spans))


def _atleast(node: AtLeast, doc: Document) -> Outcome:
    if not atleast_true(node, doc):
        return Outcome(False, ())
    found = sorted(_span(section, interval) for section, interval in atleast_occurrences(node, doc))
    return Outcome(True, tuple(found[:MAX_HITS]))


def _meta(node: Meta, doc: Document) -> Outcome:
    if not meta_true(node, doc):
        return Outcome(False, ())
    section = next(s for s in doc.sections() if s.field == node.field)
    return Outcome(True, (Span(section.rank, 0, len(section.field_index.text)),))


def _span(section: Section, interval: Interval) -> Span:
    index = section.field_index
    return Span(section.rank, index.start_of(interval[0]), index.end_of(interval[1]))


def _hit(span: Span, doc: Document) -> Hit:
    section = doc.sections()[span.field_rank]
    return make_hit(section.field, section.field_index, span.start, span.end)
