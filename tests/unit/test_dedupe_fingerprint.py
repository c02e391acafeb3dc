"""MinHash fingerprints and the pure layout of the story index: tables and properties."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.support.corpus import require_corpus
from worker.dedupe.fingerprint import (
    BINS,
    MIN_WORDS,
    Fingerprint,
    article_fingerprint,
    fingerprint,
    words,
)
from worker.dedupe.settings import DedupeConfig
from worker.dedupe.signature import band_entries, representative, text_signature
from worker.dedupe.stories import (
    bin_entries,
    member_entry,
    plan_assign,
    slot_ttl_ms,
    slots_to_search,
    story_id,
    story_update_due,
)
from worker.queue.keys import Keys

# Two pairs of different articles on one event each (different outlets' own write-ups).
SAME_EVENT_PAIRS = [
    (
        "6ebac05f637ece8aa57c298a2a5e3a8047f546f855d0f29cc683cea60ce85c85",
        "7a457a4f71735c17b8b34fafc88835d225cf879b2d812311857a64cfc891eee9",
    ),
    (
        "c7e39ac49fa1235f5d50f83bf2444248bd3aa4e6df044377916c812dd109ba23",
        "dc7ccccc1f34eb2928cb238739aaf18c712d59d8d34b41acfb29178aeba65356",
    ),
    (
        "51374560f40088e227f0053ff1bb0b8525d10a8d7bfbff1cd6033f42347fd85b",
        "f8ff621a0b9b7646cc0d57d37416feabba2bf78ef5dd0bfc5b080f9f97bbe584",
    ),
]
THRESHOLD = DedupeConfig().min_agreeing_bins


def body(sha: str) -> str:
    text: str = json.loads(require_corpus("articles", "ground-truth.json").read_text())[sha][
        "articleBody"
    ]
    return text


def first_fraction(text: str, fraction: float) -> str:
    tokens = text.split(" ")
    return " ".join(tokens[: int(len(tokens) * fraction)])


def without_paragraph(text: str, index: int) -> str:
    paragraphs = [p for p in text.split("\n") if p.strip()]
    return "\n".join(paragraphs[:index] + paragraphs[index + 1 :])


ORIGINAL = body(SAME_EVENT_PAIRS[1][0])
VARIANTS = {
    "boilerplate around": "Skip to content\nWorld | Europe | Sign in\n"
    + ORIGINAL
    + "\nRead more: Related stories\nShare this on Facebook Twitter Email\n© 2019 All rights",
    "headline line added": "Sweden ends Assange inquiry, nine years on\n" + ORIGINAL,
    "paragraph dropped": without_paragraph(ORIGINAL, 2),
    "paragraph added": ORIGINAL + "\n" + body(SAME_EVENT_PAIRS[0][0]).split("\n")[0],
    "editor's note": "Editor's note: this article was updated with a statement from the "
    "prosecutor.\n" + ORIGINAL + "\n(Reporting by the newsroom; editing by the desk)",
    "shortened to two thirds": first_fraction(ORIGINAL, 2 / 3),
    "retyped quotes and case": ORIGINAL.replace("'", "\u2019").upper(),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_syndicated_variants_agree_on_enough_bins(name: str) -> None:
    assert fingerprint(ORIGINAL).agreement(fingerprint(VARIANTS[name])) >= THRESHOLD


@pytest.mark.parametrize(("a", "b"), SAME_EVENT_PAIRS)
def test_different_articles_on_one_event_stay_apart(a: str, b: str) -> None:
    assert fingerprint(body(a)).agreement(fingerprint(body(b))) < THRESHOLD


def test_unrelated_text_shares_nothing() -> None:
    assert fingerprint(ORIGINAL).agreement(fingerprint(body(SAME_EVENT_PAIRS[2][0]))) == 0


@pytest.mark.parametrize(
    ("text", "bins"),
    [
        ("", 0),
        ("one two three", 0),
        (" ".join(f"w{i}" for i in range(MIN_WORDS - 1)), 0),
        (" ".join(f"w{i}" for i in range(400)), BINS),
    ],
)
def test_short_texts_have_no_fingerprint(text: str, bins: int) -> None:
    assert len(fingerprint(text).bins) == bins


def test_short_text_borrows_its_title() -> None:
    teaser = " ".join(f"t{i}" for i in range(MIN_WORDS - 5))
    title = "A headline of exactly seven words here"
    assert fingerprint(teaser).bins == {}
    assert article_fingerprint(teaser, title) == fingerprint(f"{title} {teaser}")
    assert article_fingerprint(ORIGINAL, "any title") == fingerprint(ORIGINAL)


def test_words_fold_case_and_punctuation() -> None:
    assert words("Élan, “QUOTED”—dash's") == ["élan", "quoted", "dash", "s"]


_texts = st.lists(st.sampled_from(["nato", "taiwan", "olympics", "said", "the", "x1"]), min_size=30)


@given(_texts)
def test_fingerprint_is_deterministic_and_self_similar(tokens: list[str]) -> None:
    fp = fingerprint(" ".join(tokens))
    assert fp == fingerprint("  ".join(t.upper() for t in tokens))
    assert fp.agreement(fp) == len(fp.bins) > 0
    assert all(0 <= b < BINS and v >= 0 for b, v in fp.bins.items())


@given(_texts, _texts)
def test_agreement_is_symmetric(a: list[str], b: list[str]) -> None:
    fa, fb = fingerprint(" ".join(a)), fingerprint(" ".join(b))
    assert fa.agreement(fb) == fb.agreement(fa)


@pytest.mark.parametrize(
    ("similarity", "bins"), [(0.2, 5), (0.25, 5), (0.3, 5), (0.5, 8), (1.0, 16)]
)
def test_legacy_vote_follows_similarity_but_never_below_its_old_default(
    similarity: float, bins: int
) -> None:
    assert DedupeConfig(similarity=similarity).min_agreeing_bins == bins


@pytest.mark.parametrize(
    ("raw", "problem"),
    [({"window": "0s"}, "window"), ({"similarity": 0}, "similarity"), ({"x": 1}, "x")],
)
def test_config_rejects_bad_values(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        DedupeConfig.model_validate(raw)


def test_config_parses_durations() -> None:
    assert DedupeConfig.model_validate({"window": "2d"}).window == 172800.0
    assert DedupeConfig().window == 7 * 86400.0 and DedupeConfig().story_updated_after is None


@given(
    now=st.floats(min_value=1e6, max_value=4e9),
    age=st.floats(min_value=0, max_value=1),
    window=st.floats(min_value=1, max_value=1e6),
    slots=st.integers(min_value=1, max_value=12),
)
def test_lookups_reach_every_entry_younger_than_the_window(
    now: float, age: float, window: float, slots: int
) -> None:
    config = DedupeConfig(window=window, slots_per_window=slots)
    written_at = now - age * window
    assert math.floor(written_at / config.slot_s) in slots_to_search(now, config)
    # ... and the hashes written then live until that lookup, but not longer than a slot more.
    ttl_s = slot_ttl_ms(written_at, config) / 1000
    assert age * window <= ttl_s + 1e-3 and ttl_s <= window + config.slot_s + 2e-3  # ms rounding


def test_plan_names_every_slot_band_and_legacy_bin() -> None:
    config = DedupeConfig(window=700.0, slots_per_window=7, index_buckets=64)
    sig = text_signature(ORIGINAL)
    call = plan_assign("article-1", sig, 1000.0, Keys("ww"), config)
    member_bucket = member_entry("article-1", 4)[0]
    assert call.keys == [
        "{ww:stories}:seq",
        "{ww:stories}:v2",
        f"{{ww:stories}}:a:10:{member_bucket}",
    ]
    assert call.args[1:7] == [8, 24, 16, slot_ttl_ms(1000.0, config), "{ww:stories}:", 4]
    assert call.args[7:10] == [member_bucket, 1_000_000, 800_000]  # horizon: window + a slot
    assert call.args[10:13] == ["0.2", "0.7", 5]
    assert call.args[13] == representative(sig) and len(representative(sig)) == 128
    assert call.args[14:22] == [str(slot) for slot in range(10, 2, -1)]
    pairs = call.args[22:]
    assert pairs[: 2 * 24 : 2] == [bucket for bucket, _ in band_entries(sig, 64)]
    assert pairs[1 : 2 * 24 : 2] == [field for _, field in band_entries(sig, 64)]
    assert pairs[2 * 24 + 1 :: 2] == [field for _, field in bin_entries(fingerprint(ORIGINAL), 64)]


def test_bin_entries_are_short_and_in_range() -> None:
    entries = bin_entries(fingerprint(ORIGINAL), 1000)
    assert len(entries) == BINS and len({field for _, field in entries}) == BINS
    assert all(0 <= bucket < 1000 and len(field) == 4 for bucket, field in entries)
    assert bin_entries(Fingerprint({}), 1000) == []


@pytest.mark.parametrize(("number", "sid"), [(1, "st_00000001"), (0xABCDEF123, "st_abcdef123")])
def test_story_id(number: int, sid: str) -> None:
    assert story_id(number) == sid


@pytest.mark.parametrize(
    ("articles", "announced", "every", "due"),
    [(5, 2, None, False), (4, 2, 3, False), (5, 2, 3, True), (9, 2, 3, True), (2, 2, 1, False)],
)
def test_story_update_due(articles: int, announced: int, every: int | None, due: bool) -> None:
    assert story_update_due(articles, announced, every) is due
