"""Token-overlap F1 between an extracted text and a reference text.

The yardstick of extraction quality (as in the article-extraction-benchmark the corpus comes
from): the benchmark reports it over the whole corpus and the tests hold a few pages to it.
"""

from __future__ import annotations

import re
from collections import Counter

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Case-folded word tokens; punctuation and whitespace only separate them."""
    return _TOKEN.findall(text.casefold())


def token_f1(candidate: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bags of tokens, so repeats count)."""
    found, wanted = Counter(tokens(candidate)), Counter(tokens(reference))
    if not found and not wanted:
        return 1.0
    overlap = sum((found & wanted).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / sum(found.values()), overlap / sum(wanted.values())
    return 2 * precision * recall / (precision + recall)
