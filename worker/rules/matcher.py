"""Many rules against one document.

Today every rule is evaluated in turn. The Matcher owns that choice so that a presearch (one
Aho-Corasick automaton over every rule's words, evaluating only rules whose words occur) can
replace it later without changing any caller.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.errors import QueryError
from worker.rules.ast import Node
from worker.rules.document import Document
from worker.rules.evaluate import match
from worker.rules.hits import Hit
from worker.rules.parser import parse_query


class Matcher:
    """A compiled set of rules, each a (rule id, parsed query) pair, in the order given."""

    def __init__(self, rules: dict[str, Node]) -> None:
        self._rules = dict(rules)

    @classmethod
    def compile(cls, rules: Iterable[tuple[str, str]]) -> Matcher:
        """Parse every (rule id, query text). A QueryError names the failing rule id."""
        parsed: dict[str, Node] = {}
        for rule_id, query in rules:
            if rule_id in parsed:
                raise QueryError(f"rule {rule_id!r}: duplicate rule id", query, 0)
            parsed[rule_id] = _parse_rule(rule_id, query)
        return cls(parsed)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def match(self, doc: Document) -> dict[str, list[Hit]]:
        """Hits per matching rule id, in rule order; rules that do not match are left out."""
        results: dict[str, list[Hit]] = {}
        for rule_id, node in self._rules.items():
            hits = match(node, doc)
            if hits:
                results[rule_id] = hits
        return results


def _parse_rule(rule_id: str, query: str) -> Node:
    try:
        return parse_query(query)
    except QueryError as error:
        raise QueryError(f"rule {rule_id!r}: {error.message}", query, error.position) from error
