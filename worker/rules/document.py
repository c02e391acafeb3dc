"""What rules run against: a title and a body, each tokenised once and then looked up many times."""

from __future__ import annotations

import html
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.rules.text import Token, tokenize

FIELDS: tuple[str, ...] = ("title", "body")


@dataclass(frozen=True)
class FieldIndex:
    """The tokens of one field and, for each folded word, where it occurs."""

    text: str
    tokens: tuple[Token, ...]
    positions: dict[str, list[int]]  # folded word -> ascending token indices
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def build(cls, text: str) -> FieldIndex:
        tokens = tuple(tokenize(text))
        positions: dict[str, list[int]] = {}
        for index, token in enumerate(tokens):
            positions.setdefault(token.word, []).append(index)
        starts = tuple(token.start for token in tokens)
        ends = tuple(token.end for token in tokens)
        return cls(text, tokens, positions, starts, ends)

    def find(self, words: Sequence[str]) -> int | None:
        """Index of the first token where `words` occur consecutively, or None."""
        for first in self.positions.get(words[0], ()):
            if self._words_at(first, words):
                return first
        return None

    def _words_at(self, first: int, words: Sequence[str]) -> bool:
        if first + len(words) > len(self.tokens):
            return False
        return all(self.tokens[first + k].word == word for k, word in enumerate(words))

    def first_token_from(self, offset: int) -> int | None:
        """Start offset of the first token starting at or after `offset`."""
        index = bisect_left(self.starts, offset)
        return self.starts[index] if index < len(self.starts) else None

    def last_token_until(self, offset: int) -> int | None:
        """End offset of the last token ending at or before `offset`."""
        index = bisect_right(self.ends, offset) - 1
        return self.ends[index] if index >= 0 else None


@dataclass(frozen=True)
class Document:
    """An article as rules see it.

    HTML entities in the title are decoded here (`AT&amp;T` -> `AT&T`): feed titles are often
    escaped once too often, and a title is never legitimately about entity syntax. The body is
    taken as given; extraction has already decoded it.
    """

    title: str
    body: str
    _indexes: dict[str, FieldIndex] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if "&" in self.title:
            object.__setattr__(self, "title", html.unescape(self.title))

    def text(self, name: str) -> str:
        """The text of field `name` ("title" or "body")."""
        if name not in FIELDS:
            raise KeyError(f"unknown document field {name!r}; known: {', '.join(FIELDS)}")
        text: str = getattr(self, name)
        return text

    def index(self, name: str) -> FieldIndex:
        """Tokens of field `name`, built on first use and kept for the document's life."""
        cached = self._indexes.get(name)
        if cached is None:
            cached = self._indexes[name] = FieldIndex.build(self.text(name))
        return cached

    def tokens(self, name: str) -> tuple[Token, ...]:
        """The folded word tokens of field `name`, with offsets into its original text."""
        return self.index(name).tokens
