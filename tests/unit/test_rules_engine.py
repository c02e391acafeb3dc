"""The engine: the indexed, compiled Matcher agrees with the plain reference evaluator on random
rules of every operator; what the presearch indexes; Document's new fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import worker.rules.document as document_module
from worker.rules import Document, Matcher, parse_query
from worker.rules.ast import (
    And,
    AtLeast,
    Meta,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    render,
    true_when_empty,
)
from worker.rules.evaluate import match
from worker.rules.frequency import frequencies
from worker.rules.presearch import Presearch, required_keys

WORDS = ["nato", "natos", "taiwan", "taiwanese", "zurich", "olympics", "olymp", "нато", "a"]
SURFACES = ["NATO", "Nato", "NATOs", "Taiwan", "Taiwanese", "Zürich", "ZURICH", "Olympics"]
SURFACES += ["olymp", "НАТО", "a", "A", "senator", "x"]
SEPARATORS = [" ", "\n", "-", "'s ", "’", ", ", " (", ") "]
FIELD = st.sampled_from(["", "", "title", "body", "author", "feed"])

TERMS = st.builds(
    lambda word, field, exact, wild: Term(
        word[:3] + wild if wild and len(word) >= 3 else word,
        field=field,
        exact=word.upper() if exact and (not wild or len(word) < 3) else "",
    ),
    st.sampled_from(WORDS),
    FIELD,
    st.booleans(),
    st.sampled_from(["", "", "*", "?", "?s"]),
)
PHRASES = st.builds(
    lambda words, field, slop: Phrase(tuple(words), field=field, slop=slop),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3),
    FIELD,
    st.sampled_from([None, None, 0, 2]),
)
PLAIN = st.one_of(TERMS, PHRASES.map(lambda p: Phrase(p.words, field=p.field)))
SIDES = st.one_of(PLAIN, st.lists(PLAIN, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))))
NEARS = st.builds(Near, SIDES, SIDES, st.integers(0, 3), st.booleans())
ATLEASTS = st.builds(AtLeast, st.integers(1, 3), st.lists(PLAIN, min_size=1, max_size=2).map(tuple))
METAS = st.one_of(
    st.sampled_from(["bbc.co.uk", "www.bbc.co.uk", "co.uk", "example.org"]).map(
        lambda v: Meta("site", v)
    ),
    st.sampled_from(["en", "en-gb", "de"]).map(lambda v: Meta("lang", v)),
)
LEAVES = st.one_of(TERMS, PHRASES, NEARS, ATLEASTS, METAS)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(children.map(Not), many.map(And), many.map(Or))


RULES = st.recursive(LEAVES, _extend, max_leaves=6).filter(lambda n: not true_when_empty(n))
TEXTS = st.lists(
    st.tuples(st.sampled_from(SURFACES), st.sampled_from(SEPARATORS)), max_size=10
).map(lambda pairs: "".join(word + sep for word, sep in pairs))
DOCS = st.builds(
    Document,
    title=TEXTS,
    body=TEXTS,
    site=st.sampled_from(["", "www.bbc.co.uk", "bbc.co.uk", "news.example.org"]),
    feed=st.lists(TEXTS, max_size=2).map(tuple),
    author=TEXTS,
    lang=st.sampled_from(["", "en", "en-GB", "de"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(RULES, min_size=1, max_size=6), DOCS)
def test_engine_agrees_with_reference_evaluator(rules: list[Node], doc: Document) -> None:
    texts = [render(rule) for rule in rules]
    matcher = Matcher.compile((f"r{i}", text) for i, text in enumerate(texts))
    fresh = Document(doc.title, doc.body, doc.site, doc.feed, doc.author, doc.lang)
    expected = {}
    for i, text in enumerate(texts):
        hits = match(parse_query(text), fresh)
        if hits:
            expected[f"r{i}"] = hits
    assert matcher.match(doc) == expected
    assert set(expected) <= set(matcher.candidates(doc))
    # Deciding alone (the worker's hot path) must agree both ways: no rule missed, none extra.
    again = Document(doc.title, doc.body, doc.site, doc.feed, doc.author, doc.lang)
    assert matcher.matching(again) == list(expected)
    # One rule's hits straight from the evaluator (POST /api/v1/match): the same as `match`.
    for rule_id in matcher.rule_ids:
        alone = Document(doc.title, doc.body, doc.site, doc.feed, doc.author, doc.lang)
        assert matcher.hits(rule_id, alone) == expected.get(rule_id, [])


REPEATED = st.lists(st.sampled_from(["nato", "taiwan", "a", "zurich", "olympics"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(NEARS, min_size=1, max_size=4), REPEATED, REPEATED, st.sampled_from([0, 1, 24]))
def test_proximity_and_phrases_agree_on_repetitive_text(
    rules: list[Near], title: list[str], body: list[str], scan_budget: int
) -> None:
    """Long runs of few words (many occurrences each) exercise the windowed NEAR test and, with
    a small scan budget, the switch from per-word searches to a full positional index."""
    texts = [render(rule) for rule in rules]
    matcher = Matcher.compile((f"r{i}", text) for i, text in enumerate(texts))
    doc = Document(" ".join(title), " ".join(body))
    expected = [f"r{i}" for i, text in enumerate(texts) if match(parse_query(text), doc)]
    saved = document_module.SCAN_BUDGET
    document_module.SCAN_BUDGET = scan_budget
    try:
        assert matcher.matching(Document(doc.title, doc.body)) == expected
    finally:
        document_module.SCAN_BUDGET = saved


@pytest.mark.parametrize("operator", ["NEAR/1", "ONEAR/1"])
@pytest.mark.parametrize(
    "body",
    [
        "nato taiwan taiwan taiwan",  # the right side is the rarer: anchored there
        "taiwan nato taiwan taiwan",
        "taiwan taiwan taiwan a a nato",
        "nato nato nato taiwan",  # the left side is the rarer
        "nato nato a a taiwan nato",
        "taiwan a nato nato nato",
        "a taiwan ' s nato",
    ],
)
def test_near_anchored_on_the_side_rarer_in_the_article(operator: str, body: str) -> None:
    """Which side of a NEAR is rarer is decided per article (`near_runs_rarer_first`), and an
    ordered NEAR must then look before a right-hand anchor and after a left-hand one."""
    query = f"taiwan {operator} nato"
    expected = bool(match(parse_query(query), Document("", body)))
    matcher = Matcher.compile([("r", query)])
    assert matcher.matching(Document("", body)) == (["r"] if expected else [])


def test_presearch_selects_only_rules_whose_required_words_occur() -> None:
    matcher = Matcher.compile(
        [
            ("and", "rare AND the"),
            ("or", "alpha OR beta"),
            ("not", "gamma NOT delta"),
            ("wild", "olymp*"),
            ("site", "site:bbc.co.uk"),
            ("near", "alpha NEAR/2 gamma"),
        ]
    )
    doc = Document(title="the beta", body="delta olympia", site="news.bbc.co.uk")
    assert matcher.candidates(doc) == ["or", "wild", "site"]
    assert list(matcher.match(doc)) == ["or", "wild", "site"]


@pytest.mark.parametrize(
    ("query", "words", "prefixes", "meta"),
    [
        ("NATO", {"nato"}, set(), set()),
        ("the AND expansion", {"expansion"}, set(), set()),  # the rarer-looking branch
        ("a OR b", {"a", "b"}, set(), set()),
        ("x NOT y", {"x"}, set(), set()),
        ('"of the alliance"', {"alliance"}, set(), set()),
        ("olymp*", set(), {"oly"}, set()),
        ("ol?mp", set(), {"ol"}, set()),
        ("lang:en nato", {"nato"}, set(), set()),
        ("lang:en", set(), set(), {"lang:en"}),
        ("site:bbc.co.uk OR x", {"x"}, set(), {"site:bbc.co.uk"}),
        ("atleast(2, a, b)", {"a", "b"}, set(), set()),
        ("alliance NEAR/3 (a OR b)", {"alliance"}, set(), set()),
    ],
)
def test_required_keys(query: str, words: set[str], prefixes: set[str], meta: set[str]) -> None:
    keys = required_keys(parse_query(query))
    assert keys is not None
    assert (set(keys.words), set(keys.prefixes), set(keys.meta)) == (words, prefixes, meta)


def test_rules_without_keys_are_always_evaluated() -> None:
    index = Presearch.build([Not(Term("x"))])  # the parser refuses it; the index copes anyway
    assert index.candidates(Document("", "")) == [0]


def test_old_callers_still_build_documents_with_title_and_body() -> None:
    doc = Document(title="NATO", body="summit")
    assert (doc.site, doc.feed, doc.author, doc.lang) == ("", (), "", "")
    assert Document("a", "b") == Document(title="a", body="b")


def test_document_normalises_site_and_lang() -> None:
    doc = Document("", "", site="https://News.BBC.co.uk:443/x", lang="pt_BR", feed=["a"])  # type: ignore[arg-type]
    assert (doc.site, doc.lang, doc.feed) == ("news.bbc.co.uk", "pt-br", ("a",))


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("government AND zelensky", "zelensky"),  # frequency, not length, decides
        ("people AND nato", "nato"),
        ('"the prime minister"', "minister"),
    ],
)
def test_and_is_keyed_by_its_rarest_branch_in_general_text(query: str, key: str) -> None:
    keys = required_keys(parse_query(query))
    assert keys is not None
    assert set(keys.words) == {key}


def test_word_frequency_table_ranks_common_words_above_names() -> None:
    table = frequencies()
    assert table.word("the") > table.word("government") > table.word("zelensky")
    assert table.prefix("gov") > table.word("government")


@pytest.mark.parametrize(
    ("query", "title", "body", "matched"),
    [
        ("alpha OR title:beta", "beta", "", True),
        ("alpha OR title:beta", "", "beta", False),
        ("feed:gamma", "gamma", "gamma", False),
        ("alpha AND beta", "alpha", "beta", True),
        ("alpha AND beta", "alpha", "alphabeta", False),
    ],
)
def test_word_rules_decided_by_the_index_alone(
    query: str, title: str, body: str, matched: bool
) -> None:
    matcher = Matcher.compile([("r", query)])
    doc = Document(title=title, body=body, feed=("other",))
    assert (matcher.matching(doc) == ["r"]) is matched
    assert bool(matcher.match(doc)) is matched


@pytest.mark.parametrize(
    ("query", "title", "body", "matched"),
    [
        ("olymp*", "", "Olympics", True),
        ("olymp*", "", "olymp", True),
        ("olymp*", "", "olym", False),
        ("olymp*", "", "preolympic", False),
        ("olymp* OR nato", "", "Senator", False),
        ("olymp* OR nato OR tai*", "Taiwanese", "", True),
        ("title:olymp*", "", "Olympics", False),
        ("title:olymp* OR body:nato", "", "Olympics", False),
        ("zür*", "", "Zurich", True),
        ("нат*", "", "НАТО", True),
    ],
)
def test_prefix_wildcard_rules_decided_by_the_index_alone(
    query: str, title: str, body: str, matched: bool
) -> None:
    matcher = Matcher.compile([("r", query)])
    doc = Document(title=title, body=body)
    assert (matcher.matching(doc) == ["r"]) is matched
    assert bool(matcher.match(doc)) is matched


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("cooperation nationally", ["short", "expanded"]),  # listed words: found by the table
        ("cozzqx natzzq", ["short", "expanded"]),  # unlisted words: found by cutting
        ("a national", ["expanded"]),
        ("cozy", ["short"]),
        ("scoop renata", []),  # a prefix only counts at a word's start
        ("natzzqv", ["expanded", "unlisted"]),
    ],
)
def test_direct_prefix_rules_over_listed_and_unlisted_words(body: str, expected: list[str]) -> None:
    """`co*` expands to too many listed words and is looked up by cutting every word; `nat*`
    expands over the word table, so only unlisted words are cut; `natzz*` expands to none."""
    rules = [("short", "co*"), ("expanded", "nat*"), ("unlisted", "natzzqv*")]
    matcher = Matcher.compile(rules)
    doc = Document("", body)
    reference = [rule_id for rule_id, query in rules if match(parse_query(query), doc)]
    assert reference == expected
    assert matcher.matching(Document("", body)) == expected
