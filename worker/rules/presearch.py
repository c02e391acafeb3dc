"""Which rules could match a document, found without evaluating them (the presearcher idea of
Lucene Monitor).

Each rule is indexed under keys it *requires*: a word (any of a phrase's words, the rarest-looking
one), a wildcard's literal prefix (its first 2 or 3 letters), or a site:/lang: value. An OR
requires one of its branches, so it is indexed under all their keys; an AND requires all its
branches, so one branch is enough: the one that looks rarest; a NOT requires nothing. A rule
whose keys are absent from a document cannot match it, so only the others are evaluated.

The keys are matched against the document's *folded tokens*, not its characters: the tokenizer
has already split and folded every word, so a set intersection between the document's distinct
words and the index finds every candidate at once (see docs/benchmarks.md for how this compared
with an Aho-Corasick automaton over the text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from worker.rules.ast import And, AtLeast, Meta, Near, Node, Not, Or, Phrase, Term, near_side
from worker.rules.document import Document
from worker.rules.frequency import frequencies

PREFIX_LENGTHS = (2, 3)  # a wildcard's key: its literal prefix, cut to at most 3 letters
# Occurrences per million words, on the scale of `frequency.Frequencies`: a site is one of
# thousands in a stream; a language (lang:en) is a large share of it.
_META_COST = {"site": 300.0, "lang": 30000.0}


@dataclass(frozen=True)
class Keys:
    """Keys of which a document must contain at least one, and how often that may happen."""

    words: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    meta: frozenset[str] = frozenset()
    cost: float = 0.0

    def __or__(self, other: Keys) -> Keys:
        return Keys(
            self.words | other.words,
            self.prefixes | other.prefixes,
            self.meta | other.meta,
            self.cost + other.cost,
        )


def word_cost(word: str) -> float:
    """How often `word` occurs in general text (see `frequency.py`): lower is a better key."""
    return frequencies().word(word)


def required_keys(node: Node) -> Keys | None:
    """The keys `node` needs one of to be true; None when it needs none (a NOT)."""
    if isinstance(node, Term):
        return _term_keys(node)
    if isinstance(node, Phrase):
        rarest = min(node.words, key=word_cost)
        return Keys(words=frozenset({rarest}), cost=word_cost(rarest))
    if isinstance(node, Meta):
        return Keys(meta=frozenset({f"{node.field}:{node.value}"}), cost=_META_COST[node.field])
    return _branch_keys(node)


def _branch_keys(node: Not | Or | AtLeast | Near | And) -> Keys | None:
    if isinstance(node, Not):
        return None
    if isinstance(node, Or | AtLeast):
        return _any_of(node.children)
    if isinstance(node, Near):
        return _cheapest([_any_of(near_side(node.left)), _any_of(near_side(node.right))])
    return _cheapest([required_keys(child) for child in node.children])


def _term_keys(term: Term) -> Keys:
    if not term.is_wildcard:
        return Keys(words=frozenset({term.word}), cost=word_cost(term.word))
    prefix = re.split("[*?]", term.word, maxsplit=1)[0][: max(PREFIX_LENGTHS)]
    return Keys(prefixes=frozenset({prefix}), cost=frequencies().prefix(prefix))


def _any_of(children: Sequence[Node]) -> Keys | None:
    keys = [required_keys(child) for child in children]
    if any(key is None for key in keys):
        return None
    union = Keys()
    for key in keys:
        assert key is not None
        union = union | key
    return union


def _cheapest(options: list[Keys | None]) -> Keys | None:
    usable = [keys for keys in options if keys is not None]
    return min(usable, key=lambda keys: keys.cost) if usable else None


@dataclass
class Presearch:
    """Key -> indices of the rules indexed under it."""

    words: dict[str, list[int]] = field(default_factory=dict)
    prefixes: dict[str, list[int]] = field(default_factory=dict)
    meta: dict[str, list[int]] = field(default_factory=dict)
    always: list[int] = field(default_factory=list)  # rules with no keys: evaluated every time

    @classmethod
    def build(cls, nodes: Sequence[Node]) -> Presearch:
        index = cls()
        for rule, node in enumerate(nodes):
            keys = required_keys(node)
            if keys is None:
                index.always.append(rule)
                continue
            for table, found in (
                (index.words, keys.words),
                (index.prefixes, keys.prefixes),
                (index.meta, keys.meta),
            ):
                for key in found:
                    table.setdefault(key, []).append(rule)
        return index

    def candidates(self, doc: Document) -> list[int]:
        """Indices of the rules that may match `doc`, ascending."""
        return sorted(self.candidate_set(doc))

    def candidate_set(self, doc: Document) -> set[int]:
        """Indices of the rules that may match `doc`."""
        words = _all_words(doc)
        groups = [self.words[key] for key in self.words.keys() & words]
        if self.prefixes:
            groups += [self.prefixes[key] for key in self.prefixes.keys() & _prefixes(words)]
        if self.meta:
            groups += [self.meta[key] for key in self.meta.keys() & _meta_keys(doc)]
        return set(self.always).union(*groups)


def _all_words(doc: Document) -> frozenset[str]:
    words = doc.words_in("")
    if doc.author or doc.feed:
        return words | doc.words_in("author") | doc.words_in("feed")
    return words


def _prefixes(words: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for length in PREFIX_LENGTHS:
        found.update(map(itemgetter(slice(0, length)), words))
    return found


def _meta_keys(doc: Document) -> set[str]:
    keys: set[str] = set()
    labels = doc.site.split(".") if doc.site else []
    keys.update("site:" + ".".join(labels[i:]) for i in range(len(labels)))
    tags = doc.lang.split("-") if doc.lang else []
    keys.update("lang:" + "-".join(tags[: i + 1]) for i in range(len(tags)))
    return keys
