"""Story signatures: 128 densified MinHash values, representatives, estimates and bands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_dedupe_fingerprint import ORIGINAL, SAME_EVENT_PAIRS, VARIANTS, body
from worker.dedupe.fingerprint import MIN_WORDS, article_fingerprint, fingerprint
from worker.dedupe.settings import DedupeConfig
from worker.dedupe.signature import (
    BANDS,
    VALUES,
    article_signature,
    band_entries,
    estimate,
    representative,
    text_signature,
)

CONFIG = DedupeConfig()


def same_story(a: str, b: str) -> bool:
    got = estimate(representative(text_signature(a)), representative(text_signature(b)))
    return got.jaccard >= CONFIG.similarity and got.containment >= CONFIG.containment


def quoting(own: str, source: str, share: float) -> str:
    """`own` with a run of `source`'s words making `share` of the result."""
    own_words, source_words = own.split(), source.split()
    length = int(len(own_words) * share / (1 - share))
    return " ".join([*own_words, *source_words[:length]])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_is_the_same_story(name: str) -> None:
    assert same_story(ORIGINAL, VARIANTS[name]) and same_story(VARIANTS[name], ORIGINAL)


def test_a_copy_cut_to_half_is_contained_though_only_half_similar() -> None:
    half = " ".join(ORIGINAL.split()[: len(ORIGINAL.split()) // 2])
    got = estimate(representative(text_signature(ORIGINAL)), representative(text_signature(half)))
    assert 0.35 <= got.jaccard <= 0.65 and got.containment >= 0.85


@pytest.mark.parametrize(("a", "b"), SAME_EVENT_PAIRS)
def test_different_articles_on_one_event_are_not(a: str, b: str) -> None:
    assert not same_story(body(a), body(b))


@pytest.mark.parametrize("share", [0.1, 0.25, 0.4])
def test_an_article_quoting_another_is_not_its_story(share: float) -> None:
    other = body(SAME_EVENT_PAIRS[2][0])
    assert not same_story(quoting(other, ORIGINAL, share), ORIGINAL)


def test_legacy_fingerprint_is_the_previous_designs() -> None:
    for text in (ORIGINAL, *VARIANTS.values(), body(SAME_EVENT_PAIRS[0][0])):
        assert text_signature(text).legacy == fingerprint(text)


_texts = st.lists(st.sampled_from(["nato", "taiwan", "olympics", "said", "the", "x1"]), min_size=30)


@given(_texts)
def test_legacy_fingerprint_matches_on_any_text(tokens: list[str]) -> None:
    text = " ".join(tokens)
    assert text_signature(text).legacy == fingerprint(text)


@given(_texts)
def test_signature_is_deterministic_and_fully_densified(tokens: list[str]) -> None:
    sig = text_signature(" ".join(tokens))
    assert sig == text_signature("  ".join(t.upper() for t in tokens))
    assert len(sig.values) == VALUES and sig.shingles >= 1
    assert estimate(representative(sig), representative(sig)).jaccard == 1.0


def test_short_texts_have_no_signature_and_borrow_their_title() -> None:
    teaser = " ".join(f"t{i}" for i in range(MIN_WORDS - 5))
    title = "A headline of exactly seven words here"
    assert text_signature(teaser).empty and representative(text_signature(teaser)) == b""
    assert band_entries(text_signature(teaser), 64) == []
    sig = article_signature(teaser, title)
    assert sig == text_signature(f"{title}\n{teaser}") and not sig.empty
    assert sig.legacy == article_fingerprint(teaser, title)


def test_representative_is_128_bytes_with_the_shingle_count_first() -> None:
    sig = text_signature(ORIGINAL)
    rep = representative(sig)
    assert len(rep) == 128 and int.from_bytes(rep[:2], "big") == sig.shingles


def test_estimates_of_unrelated_texts_are_near_zero() -> None:
    got = estimate(
        representative(text_signature(ORIGINAL)),
        representative(text_signature(body(SAME_EVENT_PAIRS[2][0]))),
    )
    assert got.jaccard < 0.05


def test_bands_are_short_in_range_and_shared_by_copies() -> None:
    mine = band_entries(text_signature(ORIGINAL), 1000)
    copy = band_entries(text_signature(VARIANTS["editor's note"]), 1000)
    assert len(mine) == BANDS and len(set(mine)) == BANDS
    assert all(0 <= bucket < 1000 and len(field) == 2 for bucket, field in mine)
    assert len(set(mine) & set(copy)) >= BANDS // 2
