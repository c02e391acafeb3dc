"""A rule compiled to a closure that only answers "does it match?", without evidence.

Walking the tree with isinstance tests for every candidate rule of every article costs more than
calling closures built once; and a plain word (most leaves) becomes one set lookup in the words
of the document's title and body. Explaining a match is left to `evaluate.match`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import assert_never

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
    leaf_words,
    near_side,
)
from worker.rules.document import SEPARATOR, Document
from worker.rules.occurrences import (
    Run,
    atleast_true,
    leaf_found,
    meta_true,
    near_in_windows,
    near_pairs,
    near_runs_in_windows,
    near_runs_rarer_first,
    wildcard_found,
)
from worker.rules.presearch import required_keys

Check = Callable[[Document], bool]


def compile_check(node: Node) -> Check:
    """A function of a Document that is true exactly when `node` matches it."""
    if isinstance(node, Term | Phrase):
        return _leaf(node)
    if isinstance(node, Not):
        inner = compile_check(node.child)
        return lambda doc: not inner(doc)
    if isinstance(node, And | Or):
        return _boolean(node)
    if isinstance(node, Near):
        return _near_check(node)
    if isinstance(node, AtLeast):
        return partial(atleast_true, node)
    if isinstance(node, Meta):
        return partial(meta_true, node)
    assert_never(node)


def _leaf(leaf: Leaf) -> Check:
    if isinstance(leaf, Term) and not leaf.exact:
        if leaf.is_wildcard:
            return partial(wildcard_found, leaf)
        word, field = leaf.word, leaf.field
        return lambda doc: word in doc.words_in(field)
    found = partial(leaf_found, leaf)
    if isinstance(leaf, Term):
        return found
    # A phrase is keyed by one word; most candidates lack another, and saying so needs no
    # positions (building them for a long body costs more than the whole decision otherwise).
    words, field = frozenset(leaf.words), leaf.field
    if leaf.exact or leaf.slop is not None:
        return lambda doc: words <= doc.words_in(field) and found(doc)
    # Consecutive words: a substring of a section's NUL-joined words (see FieldIndex.has_run).
    run, needle = leaf.words, SEPARATOR + SEPARATOR.join(leaf.words) + SEPARATOR
    return lambda doc: (
        words <= doc.words_in(field)
        and any(section.field_index.has_run(run, needle) for section in doc.scope(field))
    )


def _boolean(node: And | Or) -> Check:
    words = plain_words(node.children)
    if words is not None:
        return _word_set_check(*words, conjunction=isinstance(node, And))
    return _combined(tuple(map(compile_check, node.children)), isinstance(node, And))


def plain_words(nodes: tuple[Node, ...]) -> tuple[str, frozenset[str]] | None:
    """(field, words) when every node is a plain word (no wildcard, not `=`) of the same field."""
    fields = {node.field for node in nodes if isinstance(node, Term)}
    if len(fields) != 1 or not all(_plain(node) for node in nodes):
        return None
    return fields.pop(), frozenset(node.word for node in nodes if isinstance(node, Term))


def direct_keys(nodes: tuple[Node, ...]) -> tuple[str, frozenset[str], frozenset[str]] | None:
    """(field, words, prefixes) when every node is a plain word or a plain prefix wildcard
    (`olymp*`: one trailing `*`, no `?`, not `=`) of the same field: such an OR is true exactly
    when one of the words, or a word starting with one of the prefixes, is present."""
    fields = {node.field for node in nodes if isinstance(node, Term)}
    if len(fields) != 1 or not all(_plain(node) or _plain_prefix(node) for node in nodes):
        return None
    terms = [node for node in nodes if isinstance(node, Term)]
    words = frozenset(term.word for term in terms if not term.is_wildcard)
    prefixes = frozenset(term.word[:-1] for term in terms if term.is_wildcard)
    return fields.pop(), words, prefixes


def _plain_prefix(node: Node) -> bool:
    if not isinstance(node, Term) or node.exact or not node.word.endswith("*"):
        return False
    return not any(char in node.word[:-1] for char in "*?")


def _plain(node: Node) -> bool:
    return isinstance(node, Term) and not node.exact and not node.is_wildcard


def _word_set_check(field: str, words: frozenset[str], conjunction: bool) -> Check:
    """An AND or OR of plain words: one C-level set comparison instead of a call per word."""
    if conjunction:
        return lambda doc: words <= doc.words_in(field)
    return lambda doc: not words.isdisjoint(doc.words_in(field))


def _combined(checks: tuple[Check, ...], conjunction: bool) -> Check:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # the common shape, without a generator per call
        first, second = checks
        if conjunction:
            return lambda doc: first(doc) and second(doc)
        return lambda doc: first(doc) or second(doc)
    # More: nested pairs, in order (so it still stops at the first deciding check), cheaper
    # per call than a generator over the checks.
    middle = len(checks) // 2
    halves = (_combined(checks[:middle], conjunction), _combined(checks[middle:], conjunction))
    return _combined(halves, conjunction)


def _near_check(node: Near) -> Check:
    """Both sides present (set lookups) before looking for a close pair (positions)."""
    left, right = compile_check(node.left), compile_check(node.right)
    close = _windowed_near(node) or partial(_near, node)
    return lambda doc: left(doc) and right(doc) and close(doc)


def _windowed_near(node: Near) -> Check | None:
    """The close-pair test anchored on the side that looks rarer (see `near_in_windows`), when
    the other side is made of plain runs of words (no `=`, wildcard or slop) that a substring
    search can find; None when neither side is."""
    lefts, rights = near_side(node.left), near_side(node.right)
    if all(map(_plain_run, lefts)) and all(map(_plain_run, rights)):
        left_runs, right_runs = tuple(map(_run, lefts)), tuple(map(_run, rights))
        return partial(near_runs_rarer_first, left_runs, right_runs, node.distance, node.ordered)
    options = [
        (anchors, others, anchor_is_left)
        for anchors, others, anchor_is_left in ((lefts, rights, True), (rights, lefts, False))
        if all(map(_plain_run, others))
    ]
    if not options:
        return None
    anchors, others, anchor_is_left = min(options, key=lambda option: _side_cost(option[0]))
    runs = tuple(map(_run, others))
    # In order (ONEAR), the right side follows the left: after a left anchor, before a right one.
    before = not node.ordered or not anchor_is_left
    after = not node.ordered or anchor_is_left
    if all(map(_plain_run, anchors)):
        anchor_runs = tuple(map(_run, anchors))
        return partial(near_runs_in_windows, anchor_runs, runs, node.distance, before, after)
    return partial(near_in_windows, anchors, runs, node.distance, before, after)


def _run(leaf: Leaf) -> Run:
    """A plain leaf as a run to search for: its words NUL-joined with a NUL at each end."""
    words = leaf_words(leaf)
    return SEPARATOR + SEPARATOR.join(words) + SEPARATOR, len(words), leaf.field


def _plain_run(leaf: Leaf) -> bool:
    if isinstance(leaf, Term):
        return not leaf.exact and not leaf.is_wildcard
    return not leaf.exact and leaf.slop is None


def _side_cost(leaves: tuple[Leaf, ...]) -> float:
    """How often a side is expected to occur: its leaves' index-key costs, as the presearch
    index weighs them (a phrase's rarest word, a wildcard's prefix)."""
    return sum(keys.cost for keys in map(required_keys, leaves) if keys is not None)


def _near(node: Near, doc: Document) -> bool:
    return next(near_pairs(node, doc), None) is not None
