"""Many rules against one document.

Compiling parses every rule and sorts it into one of two kinds:

- *direct* rules, a plain word, a plain prefix wildcard (`olymp*`) or an OR of those (a third of
  a typical watchlist set): such a rule matches exactly when one of its words, or a word starting
  with one of its prefixes, is present, so the index lookup that finds it is the whole decision,
  with no per-rule Python call (`direct.py`);
- the others, indexed under the words they require (`presearch.py`) and turned into a closure
  (`compiled.py`) that only the candidate rules run.

Deciding which rules match (`matching`) is the hot path. Explaining them (`match`: hits and
snippets, built by the reference evaluator `evaluate.match`, so they are the same as for a single
query) costs far more per rule and is only needed for the rules that fire an alert.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.errors import QueryError
from worker.rules.ast import Node, Or
from worker.rules.compiled import compile_check, direct_keys
from worker.rules.direct import DirectIndex
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
        self._direct: dict[str, DirectIndex] = {}  # field -> its direct rules (module doc)
        general: list[int] = []
        for rule, node in enumerate(self._nodes):
            if not self._add_direct(rule, node):
                general.append(rule)
        for index in self._direct.values():
            index.freeze()
        self._general = tuple(general)
        self._presearch = Presearch.build([self._nodes[rule] for rule in general])

    def _add_direct(self, rule: int, node: Node) -> bool:
        """Index `rule` as a direct rule if it is one; False if it is not."""
        found = direct_keys(node.children if isinstance(node, Or) else (node,))
        if found is None:
            return False
        field, words, prefixes = found
        self._direct.setdefault(field, DirectIndex()).add(rule, words, prefixes)
        return True

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
        """Ids of the rules the index selects for `doc` (a superset of the matching ones)."""
        general = self._general
        found = self._direct_matches(doc)
        found.update(general[rule] for rule in self._presearch.candidates(doc))
        return [self._ids[rule] for rule in sorted(found)]

    def matching(self, doc: Document) -> list[str]:
        """Ids of the matching rules, in rule order, without building hits."""
        general, checks = self._general, self._checks
        found = self._direct_matches(doc)
        for rule in self._presearch.candidate_set(doc):
            if checks[general[rule]](doc):
                found.add(general[rule])
        return [self._ids[rule] for rule in sorted(found)]

    def _direct_matches(self, doc: Document) -> set[int]:
        found: set[int] = set()
        for field, index in self._direct.items():
            index.matches(doc.words_in(field), found)
        return found

    def hits(self, rule_id: str, doc: Document) -> list[Hit]:
        """The hits of one rule, straight from the reference evaluator; empty when it does not
        match. For a caller asking about one rule on one document (POST /api/v1/match,
        `wirewatch match`) the index and the compiled check would only decide what building the
        hits decides again (a quarter of such a call); across many rules or documents, `match`
        rejects the others for far less. KeyError for an unknown rule id."""
        return match(self._rules[rule_id], doc)

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
