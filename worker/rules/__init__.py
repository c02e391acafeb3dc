"""Watchlist queries: parse them, and match them against documents.

    >>> node = parse_query('NATO AND (expansion OR enlargement) NOT "Baltic Sea"')
    >>> [hit.text for hit in match(node, Document(title="NATO's expansion", body=""))]
    ['NATO', 'expansion']

The language is described in docs/queries.md.
"""

from __future__ import annotations

from worker.rules.ast import And, Node, Not, Or, Phrase, Term
from worker.rules.document import Document
from worker.rules.evaluate import match, matches
from worker.rules.hits import Hit
from worker.rules.matcher import Matcher
from worker.rules.parser import parse_query

__all__ = [
    "And",
    "Document",
    "Hit",
    "Matcher",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Term",
    "match",
    "matches",
    "parse_query",
]
