"""What a match reports: the matched text as written, and a snippet of context around it."""

from __future__ import annotations

from dataclasses import dataclass

from worker.rules.document import FieldIndex
from worker.rules.text import collapse_whitespace, is_word_char

SNIPPET_CONTEXT = 60  # characters of context wanted on each side of a hit
ELLIPSIS = "…"
# Punctuation glued to the edge words ('"Putin,' or '(AP)') is kept, but only this much of it.
_MAX_EDGE_PUNCTUATION = 3


@dataclass(frozen=True)
class Hit:
    """One place a rule matched: the field, the matched text, and a snippet around it.

    `text` is the original span of the matched words ("Vladimir Putin", "NATO" for a match in
    "NATO's") with runs of whitespace collapsed to one space.
    """

    field: str
    text: str
    snippet: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "text": self.text, "snippet": self.snippet}


def make_hit(field: str, index: FieldIndex, start: int, end: int) -> Hit:
    """The Hit for characters [start, end) of a field."""
    text = collapse_whitespace(index.text[start:end])
    return Hit(field, text, make_snippet(index, start, end))


def make_snippet(index: FieldIndex, start: int, end: int, context: int = SNIPPET_CONTEXT) -> str:
    """About `context` characters either side of [start, end), cut between words, whitespace
    collapsed, with "…" where text was left out."""
    text = index.text
    left = _left_edge(index, start, start - context)
    right = _right_edge(index, end, end + context)
    prefix = ELLIPSIS if text[:left].strip() else ""
    suffix = ELLIPSIS if text[right:].strip() else ""
    return prefix + collapse_whitespace(text[left:right]) + suffix


def _left_edge(index: FieldIndex, start: int, limit: int) -> int:
    if limit <= 0:
        return 0
    first = index.first_token_from(limit)
    edge = start if first is None else min(first, start)
    return _widen_left(index.text, edge)


def _right_edge(index: FieldIndex, end: int, limit: int) -> int:
    text = index.text
    if limit >= len(text):
        return len(text)
    last = index.last_token_until(limit)
    edge = end if last is None else max(last, end)
    return _widen_right(text, edge)


def _widen_left(text: str, edge: int) -> int:
    """Take in punctuation before `edge` if it belongs to the same whitespace-separated chunk."""
    widened = edge
    while widened > max(edge - _MAX_EDGE_PUNCTUATION, 0) and _is_punctuation(text[widened - 1]):
        widened -= 1
    return widened if widened == 0 or text[widened - 1].isspace() else edge


def _widen_right(text: str, edge: int) -> int:
    widened = edge
    ceiling = min(edge + _MAX_EDGE_PUNCTUATION, len(text))
    while widened < ceiling and _is_punctuation(text[widened]):
        widened += 1
    return widened if widened == len(text) or text[widened].isspace() else edge


def _is_punctuation(char: str) -> bool:
    return not char.isspace() and not is_word_char(char)
