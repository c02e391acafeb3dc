"""Text helpers of the extraction stage: fingerprints, feed-HTML fallback text, token F1."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.extraction import text_fingerprint, text_from_feed_html
from worker.extraction.scoring import token_f1

STORY = "NATO leaders met in Brussels on Tuesday.\n\nThey agreed to raise spending."


@pytest.mark.parametrize(
    "variant",
    [
        STORY,
        "nato leaders met in brussels on tuesday. they agreed to raise spending.",
        "  NATO   leaders met\tin Brussels on Tuesday.They agreed to raise spending.  ",
        "NATO leaders met in Brussels on Tuesday — they agreed to raise spending!",
        "ＮＡＴＯ leaders met in Brussels on Tuesday. They agreed to raise spending.",  # full-width
    ],
)
def test_fingerprint_ignores_case_whitespace_and_punctuation(variant: str) -> None:
    assert text_fingerprint(variant) == text_fingerprint(STORY)


@pytest.mark.parametrize(
    "other",
    [
        "NATO leaders met in Brussels on Wednesday. They agreed to raise spending.",
        "NATO leaders met in Brussels on Tuesday.",
        "NATO leaders met in Brus sels on Tuesday. They agreed to raise spending.",
        "",
    ],
)
def test_fingerprint_differs_for_different_text(other: str) -> None:
    assert text_fingerprint(other) != text_fingerprint(STORY)


def test_fingerprint_is_sha256_hex() -> None:
    digest = text_fingerprint(STORY)
    assert len(digest) == 64 and int(digest, 16) >= 0


_words = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü", min_size=1), min_size=1)
_separators = st.lists(st.sampled_from([" ", "  ", "\n", "\t", ", ", ". ", " - ", "\u201c"]))


@given(_words, _separators, st.booleans())
def test_fingerprint_property_same_words_same_hash(
    words: list[str], separators: list[str], upper: bool
) -> None:
    plain = " ".join(words)
    seps = [*separators, " "]
    noisy = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    assert text_fingerprint(noisy.upper() if upper else noisy) == text_fingerprint(plain)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>First paragraph.</p><p>Second   one.</p>", "First paragraph.\nSecond one."),
        ("Plain text &amp; an entity", "Plain text & an entity"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<div>x<script>alert('no')</script>y<style>p{}</style></div>", "xy"),
        (
            "<p>Read <a href='/x'>more</a> <b>here</b></p><noscript>enable JS</noscript>",
            "Read more here",
        ),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<html><body><h1>Title</h1><p>Body</p></body></html>", "Title\nBody"),
        ("<!-- only a comment -->", ""),
        ("   ", ""),
        ("", ""),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_text_from_feed_html(html: str, expected: str) -> None:
    assert text_from_feed_html(html) == expected


@pytest.mark.parametrize(
    ("candidate", "reference", "expected"),
    [
        ("the cat sat", "The cat, sat!", 1.0),
        ("", "", 1.0),
        ("dog", "cat", 0.0),
        ("", "cat", 0.0),
        ("the cat", "the cat sat on the mat", 2 * (1.0 * (2 / 6)) / (1.0 + 2 / 6)),
        ("the the the", "the", 0.5),
    ],
)
def test_token_f1(candidate: str, reference: str, expected: float) -> None:
    assert token_f1(candidate, reference) == pytest.approx(expected)
