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
from itertools import accumulate, compress, repeat
from operator import add
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


_FAST_SPLIT_RE = re.compile("\x00|" + _FAST_TOKEN_RE.pattern)
_FULL_SPLIT_RE = re.compile("\x00|" + _TOKEN_RE.pattern)
# The token patterns in one capturing group, for re.split (word_bounds).
_FAST_CAPTURE_RE = re.compile(f"({_FAST_TOKEN_RE.pattern})")
_FULL_CAPTURE_RE = re.compile(f"({_TOKEN_RE.pattern})")


def _pattern_for(text: str) -> re.Pattern[str]:
    if text.isascii() or _NEEDS_FULL_RE.search(text) is None:
        return _FAST_TOKEN_RE
    return _TOKEN_RE


def raw_words(text: str) -> list[str]:
    """The words of `text` as written (not folded), in order; the same split as `tokenize`."""
    return _pattern_for(text).findall(text)


def _ascii_table() -> bytes:
    """Byte table that lowercases ASCII letters, keeps digits and every byte of a multi-byte
    UTF-8 sequence (>= 0x80), and turns every other ASCII byte into a space."""
    table = bytearray(range(256))
    for code in range(128):
        char = chr(code)
        table[code] = ord(char.lower()) if char.isalnum() else ord(" ")
    return bytes(table)


_ASCII_TABLE = _ascii_table()


def folded_words(text: str) -> list[str]:
    """`[fold(w) for w in raw_words(text)]`, computed faster.

    ASCII punctuation and Unicode whitespace can never be inside a word, so splitting there is
    safe whatever the script: one C-level byte translation (ASCII lowercased, ASCII separators
    made spaces; multi-byte UTF-8 sequences untouched, so the result stays valid UTF-8) and one
    `str.split` give the chunks. An ASCII chunk is then a folded word already; only the distinct
    chunks holding other characters ("NATO’s", "Zürich", Cyrillic or CJK runs) are tokenised and
    folded, all at once (`_split_chunks`).
    """
    if not text.isascii():
        text = _without_common_separators(text)
    encoded = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE)
    chunks = encoded.decode("utf-8", "surrogatepass").split()
    if encoded.isascii() or not chunks:
        return chunks
    table = _split_chunks([chunk for chunk in set(chunks) if not chunk.isascii()])
    found: list[str] = []
    for chunk in chunks:
        if chunk.isascii():
            found.append(chunk)
        else:
            found.extend(table[chunk])
    return found


# Separators of edited text (typographic quotes and apostrophes, dashes, ellipsis, no-break
# space). None can be part of a word, so making them spaces changes no word; and most English
# articles hold no other non-ASCII character, so they take the all-ASCII path above.
COMMON_SEPARATORS = "\u2019\u201c\u201d\u2014\u2013\u2018\u2026\u00a0"


def _without_common_separators(text: str) -> str:
    for char in COMMON_SEPARATORS:
        if char in text:  # a one-character replace is a C-level copy
            text = text.replace(char, " ")
    return text


def _split_chunks(chunks: list[str]) -> dict[str, list[str]]:
    """Chunk -> its folded words, with one regex pass and one fold over all the chunks.

    NUL never occurs in a chunk (it is an ASCII separator) and is never part of a word, so
    tokenising the chunks joined by NUL gives each chunk's words with a NUL between chunks.
    Folding works character by character (NFKD only reorders marks between two base
    characters), so folding the words joined by U+0001 and splitting there is `fold` of each.
    """
    if not chunks:
        return {}
    joined = "\x00".join(chunks)
    if _NEEDS_FULL_RE.search(joined) is None:
        # Without CJK or marks a chunk of letters and digits only is one word as it stands
        # (most Cyrillic or Hangul words): fold those at once, split only the others.
        whole = [chunk for chunk in chunks if chunk.isalnum()]
        if whole:
            words = dict(zip(whole, map(_one, _fold_joined(whole)), strict=True))
            rest = [chunk for chunk in chunks if not chunk.isalnum()]
            return words | _split_chunks(rest) if rest else words
        pattern = _FAST_SPLIT_RE
    else:
        pattern = _FULL_SPLIT_RE
    raw = pattern.findall(joined)
    folded = _fold_joined(raw) if raw else []
    table: dict[str, list[str]] = {}
    current: list[str] = []
    position = 0
    for written, word in zip(raw, folded, strict=True):
        if written == "\x00":
            table[chunks[position]], current, position = current, [], position + 1
        else:
            current.append(word)
    table[chunks[position]] = current
    return table


def _fold_joined(words: list[str]) -> list[str]:
    """`[fold(w) for w in words]` in one pass (see `_split_chunks`); `words` is not empty."""
    return _fold_once("\x01".join(words)).split("\x01")


def _one(word: str) -> list[str]:
    return [word]


def word_spans(text: str) -> list[tuple[int, int]]:
    """The [start, end) offsets of the words `raw_words` returns, in the same order."""
    starts, ends = word_starts_ends(text)
    return list(zip(starts, ends, strict=True))


def plain_ascii_bytes(text: str) -> bytes | None:
    """When `text` takes the ASCII byte path of `folded_words` (ASCII once the common
    separators are spaces): its bytes translated as there (word characters lowercased, every
    other byte a space), with a space added at each end. Each word is a run of non-spaces at
    its offset in `text` plus one. None for other text."""
    plain = text if text.isascii() else _without_common_separators(text)
    if not plain.isascii():
        return None
    return b" " + plain.encode("ascii").translate(_ASCII_TABLE) + b" "


def word_starts_ends(text: str) -> tuple[list[int], list[int]]:
    """The words' start offsets and their end offsets (see `word_spans`), built without a
    Python step per word: a hit's snippet needs them for a whole body, and a `match.span()`
    per word of a 10 KB text cost as much as deciding the match (POST /api/v1/match).

    Text that is ASCII once the common separators are spaces (most English articles) takes the
    byte path of `folded_words`: the translated bytes split on spaces, and the running sum of
    the pieces' lengths gives each piece's offset (every replacement there keeps the length,
    one character for one). Other text splits on the capturing token pattern: gaps and words
    alternately, whose running sum of lengths is every boundary."""
    plain = text if text.isascii() else _without_common_separators(text)
    if plain.isascii():
        pieces = plain.encode("ascii").translate(_ASCII_TABLE).split(b" ")
        offsets = accumulate(map(add, map(len, pieces), repeat(1)), initial=0)
        starts = list(compress(offsets, pieces))  # the non-empty pieces are the words
        return starts, list(map(add, starts, map(len, filter(None, pieces))))
    pattern = _FAST_CAPTURE_RE if _pattern_for(text) is _FAST_TOKEN_RE else _FULL_CAPTURE_RE
    bounds = list(accumulate(map(len, pattern.split(text)[:-1])))  # gap, word, gap, ..., word
    return bounds[0::2], bounds[1::2]


def _dropped_marks() -> list[tuple[int, int]]:
    """The marks folding drops: every combining class but those kept (all such characters are
    combining marks, so the mark table is the place to look)."""
    return _ranges(
        code
        for low, high in _MARK_RANGES
        for code in range(low, high + 1)
        if unicodedata.combining(chr(code)) not in _KEPT_COMBINING_CLASSES
    )


# Split in a BMP-only class (compiled to a bitmap, one lookup per character) and the few astral
# ranges, only scanned when the text has astral characters at all.
_DROPPED_BMP_RE = re.compile(f"[{_bmp_class(_dropped_marks())}]+")
_DROPPED_ASTRAL_RE = re.compile(
    f"[{_char_class((low, high) for low, high in _dropped_marks() if high > 0xFFFF)}]+"
)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def _fold_once(text: str) -> str:
    # C-level regex substitutions instead of a Python test per character.
    decomposed = _DROPPED_BMP_RE.sub("", unicodedata.normalize("NFKD", text))
    if _ASTRAL_RE.search(decomposed) is not None:
        decomposed = _DROPPED_ASTRAL_RE.sub("", decomposed)
    return decomposed.casefold()


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Compatibility-decompose, drop accents (combining marks but kana voicing
    marks and viramas), casefold.

    One pass is enough: decomposition comes first, so what casefolding yields is already
    stable ("İ" decomposes to "I" and a dropped dot before it is casefolded; "ℌ" to "H"). A test
    checks that a second pass changes no code point of the running Python's Unicode database.
    """
    if text.isascii():
        return text.lower()
    return _fold_once(text)


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
