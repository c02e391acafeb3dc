"""Many rules against one document.

Compiling parses every rule, indexes it under the words it requires (`presearch.py`) and turns it
into a closure (`compiled.py`). Matching a document looks its distinct words up in that index,
runs the closures of the candidate rules only, and explains the ones that match with the
reference evaluator (`evaluate.match`), so hits are the same as for a single query.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.errors import QueryError
from worker.rules.ast import Node
from worker.rules.compiled import compile_check
from worker.rules.document import Document
from worker.rules.evaluate import match
from worker.rules.hits import Hit
from worker.rules.parser import parse_query
from worker.rules.presearch import Presearch


class Matcher:
    """A compiled set of rules, each a (rule id, parsed query) pair, in the order given."""

    def __init__(self, rules: dict[str, Node]) -> None:
        self._rules = dict(rules)
        self._ids = tuple(self._rules)
        self._nodes = tuple(self._rules.values())
        self._checks = tuple(map(compile_check, self._nodes))
        self._presearch = Presearch.build(self._nodes)

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

    @property
    def rules(self) -> dict[str, Node]:
        """Rule id -> parsed query, in rule order."""
        return dict(self._rules)

    def candidates(self, doc: Document) -> list[str]:
        """Ids of the rules the presearch selects for `doc` (a superset of the matching ones)."""
        return [self._ids[rule] for rule in self._presearch.candidates(doc)]

    def matching(self, doc: Document) -> list[str]:
        """Ids of the matching rules, in rule order, without building hits."""
        checks = self._checks
        return [self._ids[i] for i in self._presearch.candidates(doc) if checks[i](doc)]

    def match(self, doc: Document) -> dict[str, list[Hit]]:
        """Hits per matching rule id, in rule order; rules that do not match are left out."""
        results: dict[str, list[Hit]] = {}
        for rule_id in self.matching(doc):
            hits = match(self._rules[rule_id], doc)
            if hits:
                results[rule_id] = hits
        return results


def _parse_rule(rule_id: str, query: str) -> Node:
    try:
        return parse_query(query)
    except QueryError as error:
        raise QueryError(f"rule {rule_id!r}: {error.message}", query, error.position) from error
