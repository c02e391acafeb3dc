"""The index of *direct* rules: a plain word, a plain prefix wildcard (`olymp*`) or an OR of
those. Such a rule matches exactly when one of its words, or a word starting with one of its
prefixes, is in the document, so looking it up is the whole decision.

Words are one set intersection with the document's words. Prefixes would need the document's
words cut to every prefix length in use (a pass over all its words per length), so a prefix is
*expanded* at compile time into the listed words that start with it (the shipped word table of
`frequency.py`, tens of thousands of words): a document word in that list is found by the
same intersection as plain words, and only the document's unlisted words (names, numbers, rare
forms: a fifth of a long article's distinct words) are cut and looked up by prefix. A prefix
with too many listed words (`ma*`) is not expanded and is looked up among all the cut words.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from operator import itemgetter

from worker.rules.frequency import frequencies

EXPANSION_LIMIT = 256  # listed words a prefix may expand to (more: looked up by cutting)

Table = dict[str, list[int]]


@dataclass
class DirectIndex:
    """One field's direct rules, by the words and prefixes that make them true."""

    words: Table = field(default_factory=dict)
    # prefix length -> prefix -> rules; `expanded`: only the unlisted words need looking up
    expanded: dict[int, Table] = field(default_factory=dict)
    unexpanded: dict[int, Table] = field(default_factory=dict)
    _keys: frozenset[str] = frozenset()

    def add(self, rule: int, words: frozenset[str], prefixes: frozenset[str]) -> None:
        for word in words:
            self.words.setdefault(word, []).append(rule)
        for prefix in prefixes:
            listed = _listed_with_prefix(prefix)
            target = self.unexpanded if listed is None else self.expanded
            target.setdefault(len(prefix), {}).setdefault(prefix, []).append(rule)
            for word in listed or ():
                self.words.setdefault(word, []).append(rule)

    def freeze(self) -> None:
        """Call once every rule is added: the word keys as a set, for a set-to-set intersection
        (cheaper than one against a dict's keys, which copies them)."""
        self._keys = frozenset(self.words)

    def matches(self, words: frozenset[str], found: set[int]) -> None:
        """Add to `found` the rules that `words` (a document field's words) make true."""
        table = self.words
        found.update(*[table[word] for word in self._keys & words])
        if self.expanded:
            _by_prefix(self.expanded, words - frequencies().listed, found)
        if self.unexpanded:
            _by_prefix(self.unexpanded, words, found)


def _by_prefix(by_length: dict[int, Table], words: frozenset[str], found: set[int]) -> None:
    for length, prefixes in by_length.items():
        cut = set(map(itemgetter(slice(0, length)), words))
        found.update(*[prefixes[prefix] for prefix in prefixes.keys() & cut])


def _listed_with_prefix(prefix: str) -> list[str] | None:
    """The listed words starting with `prefix`, or None when there are too many."""
    listed = frequencies().sorted_words
    low = bisect_left(listed, prefix)
    high = bisect_right(listed, prefix + "\U0010ffff", low)
    return listed[low:high] if high - low <= EXPANSION_LIMIT else None
