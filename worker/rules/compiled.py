"""A rule compiled to a closure that only answers "does it match?", without evidence.

Walking the tree with isinstance tests for every candidate rule of every article costs more than
calling closures built once; and a plain word (most leaves) becomes one set lookup in the words
of the document's title and body. Explaining a match is left to `evaluate.match`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import assert_never

from worker.rules.ast import And, AtLeast, Leaf, Meta, Near, Node, Not, Or, Phrase, Term
from worker.rules.document import Document
from worker.rules.occurrences import (
    atleast_true,
    leaf_found,
    meta_true,
    near_pairs,
    wildcard_found,
)

Check = Callable[[Document], bool]


def compile_check(node: Node) -> Check:
    """A function of a Document that is true exactly when `node` matches it."""
    if isinstance(node, Term | Phrase):
        return _leaf(node)
    if isinstance(node, Not):
        inner = compile_check(node.child)
        return lambda doc: not inner(doc)
    if isinstance(node, And | Or):
        return _combined(tuple(map(compile_check, node.children)), isinstance(node, And))
    if isinstance(node, Near):
        return partial(_near, node)
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
    return partial(leaf_found, leaf)


def _combined(checks: tuple[Check, ...], conjunction: bool) -> Check:
    if len(checks) == 2:  # the common shape, without a generator per call
        first, second = checks
        if conjunction:
            return lambda doc: first(doc) and second(doc)
        return lambda doc: first(doc) or second(doc)
    if conjunction:
        return lambda doc: all(check(doc) for check in checks)
    return lambda doc: any(check(doc) for check in checks)


def _near(node: Near, doc: Document) -> bool:
    return next(near_pairs(node, doc), None) is not None
