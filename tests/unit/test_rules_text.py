"""Tokenizer and folding: words, offsets into the original text, case and accent folding."""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from worker.rules.document import FieldIndex, nul_joined
from worker.rules.text import (
    _TOKEN_RE,
    COMMON_SEPARATORS,
    _fold_once,
    combining_mark_ranges,
    fold,
    folded_words,
    is_word_char,
    plain_ascii_bytes,
    raw_words,
    tokenize,
    word_spans,
    word_starts_ends,
    words,
)

TOKENS: list[tuple[str, list[str]]] = [
    ("NATO's NATO’s NATO-led", ["nato", "s", "nato", "s", "nato", "led"]),
    ("senator Donato", ["senator", "donato"]),
    ("Zürich ZÜRICH Zu\u0308rich", ["zurich", "zurich", "zurich"]),
    ("Straße İstanbul", ["strasse", "istanbul"]),
    ("НАТО, Ёлка", ["нато", "елка"]),
    ("Αθήνα ΟΔΟΣ", ["αθηνα", "οδοσ"]),
    ("foo_bar F-35 COVID-19 3.5", ["foo", "bar", "f", "35", "covid", "19", "3", "5"]),
    ("ﬁsh Ｔｏｋｙｏ", ["fish", "tokyo"]),
    ("北约东扩", ["北", "约", "东", "扩"]),
    # folded words are NFKD: "ピ" becomes "ヒ" + a combining voicing mark, which is kept
    ("東京オリンピックが", [fold(c) for c in "東京オリンピックが"]),
    ("हिन्दी समाचार", ["हिन्दी", "समाचार"]),
    ("Việt Nam", ["viet", "nam"]),
    ("  — !? ", []),
]


@pytest.mark.parametrize(("text", "expected"), TOKENS)
def test_tokens(text: str, expected: list[str]) -> None:
    assert list(words(text)) == expected


def test_offsets_point_into_the_original_text() -> None:
    text = "«Zürich»\nNATO’s"
    assert [(text[t.start : t.end], t.word) for t in tokenize(text)] == [
        ("Zürich", "zurich"),
        ("NATO", "nato"),
        ("s", "s"),
    ]


def test_kana_voicing_marks_are_not_accents() -> None:
    assert fold("バ") != fold("ハ")
    assert fold("ﾊﾞ") == fold("バ")  # halfwidth forms fold to fullwidth


def test_mark_table_covers_every_combining_mark() -> None:
    covered = {code for low, high in combining_mark_ranges() for code in range(low, high + 1)}
    every = {c for c in range(0x110000) if unicodedata.category(chr(c)).startswith("M")}
    assert every <= covered


@given(st.text())
@example("Zu\u0308rich-NATO’s 北约")
def test_tokens_are_ordered_spans_of_their_own_words(text: str) -> None:
    previous_end = 0
    for token in tokenize(text):
        assert previous_end <= token.start < token.end <= len(text)
        piece = text[token.start : token.end]
        assert token.word == fold(piece)
        assert [t.word for t in tokenize(piece)] == [token.word]
        previous_end = token.end


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.text())
@example("İstanbul Zürich ẞ NATO’s ǅ 北约 Zu\u0308rich")
def test_folded_words_is_fold_of_each_written_word(text: str) -> None:
    assert raw_words(text) == _TOKEN_RE.findall(text)  # the fast path splits like the full one
    assert folded_words(text) == [fold(word) for word in raw_words(text)]
    assert raw_words(text) == [text[start:end] for start, end in word_spans(text)]
    assert [t.word for t in tokenize(text)] == folded_words(text)


MIXED_TEXT = st.text(
    alphabet=st.sampled_from(
        list("NATOnato's -.1")
        + list("ЗюрихНАТОйё")
        + list("남상미")
        + list("北约ハバ")
        + list(COMMON_SEPARATORS)
        + ["\u0301", "\u0308", "İ", "ẞ", "ǅ", "\U0001d400"]
    ),
    max_size=60,
)


@given(MIXED_TEXT)
@example("NATO’s “Zürich” — Ёлка… Нато’s 남상미’ 北约\u00a0x")
def test_folded_words_fast_paths_split_like_the_tokenizer(text: str) -> None:
    """Typographic separators, whole-word Cyrillic and Hangul chunks and mixed chunks take
    different shortcuts in `folded_words`; each must give the tokenizer's words."""
    assert folded_words(text) == [fold(word) for word in raw_words(text)]


def test_common_separators_are_never_part_of_a_word() -> None:
    for char in COMMON_SEPARATORS:
        assert not is_word_char(char), hex(ord(char))
        assert not unicodedata.category(char).startswith("M"), hex(ord(char))


def test_folding_twice_changes_no_code_point() -> None:
    """`fold` makes one pass; that relies on its result being stable for every character of
    the Unicode database in use (checked in one batch: folding works per character)."""
    chars = [chr(code) for code in range(2, 0x110000) if not 0xD800 <= code <= 0xDFFF]
    once = _fold_once("\x01".join(chars)).split("\x01")
    twice = _fold_once("\x01".join(once)).split("\x01")
    unstable = [hex(ord(char)) for char, a, b in zip(chars, once, twice, strict=True) if a != b]
    assert unstable == []


# Mostly ASCII prose with the separators the byte path turns into spaces, now and then a letter
# that takes the other path.
PROSE = st.text(
    alphabet=st.sampled_from([*"abcNATO  19.,'-\n\t", "\u2019", "\u2014", "\u00a0", "é"]),
    max_size=60,
)


@given(PROSE)
@example("NATO's talks")
@example("  a\u2014b  ")
def test_one_words_offsets_found_alone_equal_the_listed_ones(text: str) -> None:
    """FieldIndex finds a hit's offsets word by word (start_of, end_of, first_token_from,
    last_token_until) instead of listing every word's: the same answers as the lists."""
    starts, ends = word_starts_ends(text)
    count = len(FieldIndex(text).words)
    assert [FieldIndex(text).start_of(i) for i in range(count)] == starts
    assert [FieldIndex(text).end_of(i) for i in range(count)] == ends
    for offset in range(-1, len(text) + 2):
        at = bisect_left(starts, offset)
        first = starts[at] if at < len(starts) else None
        assert FieldIndex(text).first_token_from(offset) == first, offset
        at = bisect_right(ends, offset) - 1
        last = ends[at] if at >= 0 else None
        assert FieldIndex(text).last_token_until(offset) == last, offset


@given(PROSE)
@example("a a b a")
def test_a_words_positions_counted_or_looked_up_equal_its_places(text: str) -> None:
    """A word's positions come from counting the NULs between its hits until the offsets are
    listed, then from the list: both give every place of the word, in order."""
    words = FieldIndex(text).words
    for word in set(words):
        places = [at for at, other in enumerate(words) if other == word]
        counted = FieldIndex(text)
        assert counted.positions(word) == places
        assert "offsets" not in counted.__dict__  # found without listing them
        listed = FieldIndex(text)
        assert listed.offsets  # listed first, as a proximity window does
        assert listed.positions(word) == places


@given(PROSE)
@example("")
@example(" .. ")
@example("a  b\n\n\tc")
def test_joined_made_from_the_bytes_equals_the_words_joined(text: str) -> None:
    """`joined` of plain ASCII text is made from its translated bytes, without listing the
    words: the same string as joining them."""
    expected = "\0" + "\0".join(folded_words(text)) + "\0"
    index = FieldIndex(text)
    assert index.joined == expected
    padded = plain_ascii_bytes(text)
    if padded is not None:
        assert nul_joined(padded) == expected
        assert "words" not in index.__dict__  # made without them
