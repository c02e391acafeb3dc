"""How common a word is in general text, to choose the rarest branch of an AND as a rule's
presearch key (the rarer the key, the fewer articles make the rule a candidate).

The table (`word_frequencies.txt`) ships with the package: Zipf frequencies of the 20,000
commonest English words and the 2,000 commonest of seven other languages, from the wordfreq
package, folded like document words. It is general text, not the benchmark corpus (choosing keys
from the articles they are measured on would flatter the measurement). A word missing from the
table is rarer than every listed word; among those, longer words count as rarer.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from itertools import accumulate
from pathlib import Path

TABLE = Path(__file__).with_name("word_frequencies.txt")
UNLISTED_ZIPF = 3.0  # below the table's least frequent entries (about 3.3)


class Frequencies:
    """Expected occurrences per million words, by folded word and by word prefix."""

    def __init__(self, zipf: dict[str, float]) -> None:
        self._per_million = {word: 10 ** (value - 3) for word, value in zipf.items()}
        self.sorted_words = sorted(self._per_million)
        self.listed = frozenset(self._per_million)
        self._cumulative = [0.0, *accumulate(self._per_million[w] for w in self.sorted_words)]

    def word(self, word: str) -> float:
        found = self._per_million.get(word)
        if found is not None:
            return found
        return 10 ** (UNLISTED_ZIPF - 3) * (1 + 4 / max(len(word), 1))

    def prefix(self, prefix: str) -> float:
        """All listed words starting with `prefix` together (a wildcard's key)."""
        low = bisect_left(self.sorted_words, prefix)
        high = bisect_right(self.sorted_words, prefix + "\U0010ffff", low)
        return self._cumulative[high] - self._cumulative[low] + self.word(prefix)


def parse_table(text: str) -> dict[str, float]:
    """`word<TAB>zipf x 10` lines; `#` starts a comment line."""
    table: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, value = line.split("\t")
            table[word] = int(value) / 10
    return table


@functools.cache
def frequencies() -> Frequencies:
    """The shipped table, loaded on first use (an empty one if the file is missing)."""
    text = TABLE.read_text(encoding="utf-8") if TABLE.exists() else ""
    return Frequencies(parse_table(text))
