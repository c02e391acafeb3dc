"""Word tokens with their offsets in the original text, and the folding that makes matching
case- and accent-insensitive.

Documents and query words go through the same two functions, `tokenize` and `fold`, so a query
word matches a document word exactly when both fold to the same string.

- A word is a run of Unicode letters and digits (any script), with the combining marks that
  follow them. Everything else separates words: spaces, punctuation, apostrophes (' and ’),
  hyphens, underscores. So "NATO's" is `nato`, `s` and "NATO-led" is `nato`, `led`.
- Chinese/Japanese ideographs and kana are written without spaces, so each such character is a
  token of its own; a query word of several ideographs becomes a phrase of single characters.
- Offsets always point into the original, unfolded text, so snippets can quote it as written.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple


class Token(NamedTuple):
    """One word: its folded form and its [start, end) span in the original text."""

    word: str
    start: int
    end: int


# Scripts written without spaces between words; each character is one token.
_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3005, 0x3007),  # ideographic iteration mark, closing mark, number zero
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFF66, 0xFF9F),  # Halfwidth Katakana
    (0x20000, 0x3FFFF),  # Supplementary and Tertiary Ideographic Planes
)

# Combining marks live below U+20000 except for the variation selectors supplement; scanning
# only that part keeps the import fast (tests check the result against a full scan).
_MARK_SCAN_END = 0x20000
_EXTRA_MARK_RANGES = ((0xE0100, 0xE01EF),)

# Canonical combining classes kept by folding: kana voicing marks (8: "ハ" and "バ" are different
# sounds) and viramas (9: part of Indic spelling). Every other mark is an accent to ignore.
_KEPT_COMBINING_CLASSES = frozenset({0, 8, 9})


def _is_mark(code: int) -> bool:
    return unicodedata.category(chr(code)).startswith("M")


def _ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    """Collapse ascending code points into inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def combining_mark_ranges() -> list[tuple[int, int]]:
    """Inclusive code point ranges of every combining mark (general category M*)."""
    scanned = _ranges(code for code in range(_MARK_SCAN_END) if _is_mark(code))
    return scanned + list(_EXTRA_MARK_RANGES)


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


_MARK_RANGES = combining_mark_ranges()


def _token_pattern() -> re.Pattern[str]:
    cjk = _char_class(_CJK_RANGES)
    marks = _char_class(_MARK_RANGES)
    letter = f"[^\\W_{cjk}]"  # a letter or digit that is not CJK
    return re.compile(f"[{cjk}]|{letter}(?:{letter}|[{marks}])*")


_TOKEN_RE = _token_pattern()


def _bmp_class(ranges: Iterable[tuple[int, int]]) -> str:
    return _char_class((low, min(high, 0xFFFF)) for low, high in ranges if low <= 0xFFFF)


# Most text has no CJK, no combining marks and nothing beyond the BMP; for it a plain run of
# letters and digits is the same token, and Python's regex engine finds it about five times
# faster than the full pattern (whose many astral ranges are scanned one by one per character).
# Keeping every range in one BMP-only class (plus one astral range) lets sre use a bitmap.
_FAST_TOKEN_RE = re.compile(r"[^\W_]+")
_NEEDS_FULL_RE = re.compile(
    f"[\U00010000-\U0010ffff{_bmp_class(_CJK_RANGES)}{_bmp_class(_MARK_RANGES)}]"
)


def _pattern_for(text: str) -> re.Pattern[str]:
    if text.isascii() or _NEEDS_FULL_RE.search(text) is None:
        return _FAST_TOKEN_RE
    return _TOKEN_RE


def raw_words(text: str) -> list[str]:
    """The words of `text` as written (not folded), in order; the same split as `tokenize`."""
    return _pattern_for(text).findall(text)


def folded_words(text: str) -> list[str]:
    """`[fold(w) for w in raw_words(text)]`, computed faster.

    Lowercasing the whole text at once and folding only the few words that are still not ASCII
    avoids a function call per word. It is only done where it cannot move a word boundary: text
    on the fast path (no marks, no CJK) whose lowercase form has the same length (so no letter
    turned into a letter plus a combining mark, as "İ" does).
    """
    lowered = text.lower()
    if _pattern_for(text) is not _FAST_TOKEN_RE or len(lowered) != len(text):
        return list(map(fold, _TOKEN_RE.findall(text)))
    found: list[str] = _FAST_TOKEN_RE.findall(lowered)
    if lowered.isascii():
        return found
    refold = {word: fold(word) for word in set(found) if not word.isascii()}
    return list(map(refold.get, found, found)) if refold else found


def word_spans(text: str) -> list[tuple[int, int]]:
    """The [start, end) offsets of the words `raw_words` returns, in the same order."""
    return [match.span() for match in _pattern_for(text).finditer(text)]


def _keep(char: str) -> bool:
    return unicodedata.combining(char) in _KEPT_COMBINING_CLASSES


def _fold_once(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if _keep(char)).casefold()


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Compatibility-decompose, drop accents (combining marks but kana voicing
    marks and viramas), casefold.

    Applied twice because casefolding can yield new decomposable characters ("İ" -> "i̇") and
    decomposition can yield new uppercase ones ("ℌ" -> "H").
    """
    if text.isascii():
        return text.lower()
    return _fold_once(_fold_once(text))


def tokenize(text: str) -> list[Token]:
    """Split `text` into folded word tokens with offsets into `text` itself."""
    pattern = _pattern_for(text)
    return [Token(fold(m.group()), m.start(), m.end()) for m in pattern.finditer(text)]


def words(text: str) -> tuple[str, ...]:
    """Just the folded words of `text`, in order."""
    return tuple(token.word for token in tokenize(text))


def is_word_char(char: str) -> bool:
    """True for a character that can be part of a word token."""
    return _TOKEN_RE.match(char) is not None or _is_mark(ord(char))


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (line breaks included) become one space; ends are trimmed."""
    return " ".join(text.split())
