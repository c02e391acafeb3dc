"""Matching queries against documents: the traps, hits and snippets, a reference model, a real
article, and the Matcher."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.corpus import require_corpus
from worker.errors import QueryError
from worker.rules import And, Document, Hit, Matcher, Node, Not, Or, Phrase, Term, match
from worker.rules import parse_query as parse
from worker.rules.ast import leaf_words, render, true_when_empty
from worker.rules.evaluate import MAX_HITS
from worker.rules.text import words


def matched(query: str, title: str = "", body: str = "") -> bool:
    return bool(match(parse(query), Document(title=title, body=body)))


TRAPS: list[tuple[str, str, bool]] = [
    ("NATO", "NATO leaders met", True),
    ("NATO", "nato leaders met", True),
    ("NATO", "the senator spoke", False),
    ("NATO", "Donato spoke", False),
    ("NATO", "NATOs", False),
    ("NATO", "NATO-led forces", True),
    ("NATO", "NATO's allies", True),
    ("NATO", "NATO’s allies", True),
    ("NATO", "(NATO)", True),
    ("NATO", "under_NATO_command", True),
    ("senator", "NATO", False),
    ("Taiwan", "Taiwan's president", True),
    ("Taiwan", "Taiwanese voters", False),
    ("Taiwanese", "Taiwan votes", False),
    ("Zürich", "Zurich airport", True),
    ("Zurich", "Zürich airport", True),
    ("ZURICH", "zürich airport", True),
    ("Zürich", "Zu\u0308rich airport", True),  # decomposed ü in the text
    ("Zurich", "Zürichsee", False),
    ("НАТО", "расширение НАТО на восток", True),
    ("нато", "НАТО-шные", True),
    ("НАТО", "NATO", False),
    ("Ελλάδα", "ΕΛΛΑΔΑ", True),
    ("Straße", "STRASSE", True),
    ("北约", "反对北约东扩", True),
    ("北约", "北方条约", False),
    ('"Vladimir Putin"', "said Vladimir\nPutin on Friday", True),
    ('"Vladimir Putin"', "Vladimir Ilyich Putin", False),
    ('"Vladimir Putin"', "Putin Vladimir", False),
    ("“Baltic Sea”", "the Baltic  Sea region", True),
    ("NATO-led", "NATO led", True),
    ("NATO-led", "NATO-backed led", False),
    ("and", "rock and roll", True),
    ("rock and roll", "rock roll", False),
]


@pytest.mark.parametrize(("query", "body", "expected"), TRAPS)
def test_traps(query: str, body: str, expected: bool) -> None:
    assert matched(query, body=body) is expected
    assert matched(query, title=body) is expected


OPERATORS: list[tuple[str, str, bool]] = [
    ("a b", "a b", True),
    ("a b", "a", False),
    ("a AND b", "b x a", True),
    ("a OR b", "b", True),
    ("a OR b", "c", False),
    ("a NOT b", "a", True),
    ("a NOT b", "a b", False),
    ("a -b", "a b", False),
    ("a OR b c", "a", True),
    ("a OR b c", "b", False),
    ("a OR b c", "b c", True),
    ("(a OR b) c", "a", False),
    ("(a OR b) c", "a c", True),
    ("a NOT b OR c", "a b c", True),
    ("a NOT b OR c", "a b", False),
    ("a -(b OR c)", "a c", False),
    ("a NOT NOT b", "a b", True),
    ("a NOT NOT b", "a", False),
    ('NATO AND (expansion OR enlargement) NOT "Baltic Sea"', "NATO enlargement", True),
    ('NATO AND (expansion OR enlargement) NOT "Baltic Sea"', "NATO expansion Baltic Sea", False),
    ('NATO AND (expansion OR enlargement) NOT "Baltic Sea"', "NATO expansion Baltic, sea", False),
    ('NATO AND (expansion OR enlargement) NOT "Baltic Sea"', "NATO expansion sea Baltic", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), OPERATORS)
def test_operators(query: str, body: str, expected: bool) -> None:
    assert matched(query, body=body) is expected


def test_leaves_match_over_the_union_of_title_and_body() -> None:
    assert matched("NATO Taiwan", title="NATO summit", body="talks on Taiwan")
    assert not matched('"summit talks"', title="NATO summit", body="talks on Taiwan")
    assert not matched("NATO NOT Taiwan", title="NATO summit", body="talks on Taiwan")


def test_hit_is_the_matched_span_with_a_snippet() -> None:
    hits = match(parse("NATO"), Document(title="", body="The NATO-led mission ended."))
    assert hits == [Hit("body", "NATO", "The NATO-led mission ended.")]
    assert hits[0].as_dict() == {
        "field": "body",
        "text": "NATO",
        "snippet": "The NATO-led mission ended.",
    }


def test_hit_text_keeps_the_original_spelling() -> None:
    doc = Document(title="Zürich: NATO’s talks", body="")
    assert [hit.text for hit in match(parse("zurich OR nato"), doc)] == ["Zürich", "NATO"]


def test_phrase_hit_across_a_line_break_is_collapsed() -> None:
    doc = Document(title="", body="Russia's Vladimir\n  Putin and China's Xi Jinping")
    (hit,) = match(parse('"Vladimir Putin"'), doc)
    assert hit.text == "Vladimir Putin"
    assert hit.snippet == "Russia's Vladimir Putin and China's Xi Jinping"


def test_html_entities_in_the_title_are_decoded() -> None:
    doc = Document(title="AT&amp;T &amp; NATO: &#8220;talks&#8221;", body="AT&amp;T")
    assert doc.title == "AT&T & NATO: “talks”"
    assert match(parse("AT&T"), doc)[0] == Hit("title", "AT&T", "AT&T & NATO: “talks”")
    assert [hit.field for hit in match(parse("amp"), doc)] == ["body"]  # the body is as given


def test_hits_come_from_positive_leaves_title_first() -> None:
    doc = Document(title="Taiwan and NATO", body="NATO met. Russia objected. Taiwan too.")
    hits = match(parse("(NATO OR Taiwan OR Japan) NOT Brazil NOT (Brazil OR Chile)"), doc)
    assert [(hit.field, hit.text) for hit in hits] == [
        ("title", "Taiwan"),
        ("title", "NATO"),
        ("body", "NATO"),
        ("body", "Taiwan"),
    ]
    assert match(parse("NATO NOT Russia"), doc) == []


def test_hits_are_first_occurrences_deduplicated() -> None:
    doc = Document(title="", body="NATO one. NATO two. nato three.")
    hits = match(parse("NATO OR nato OR (NATO NATO)"), doc)
    assert [(hit.text, hit.snippet) for hit in hits] == [("NATO", doc.body)]


def test_double_negation_reports_the_leaf_inside() -> None:
    doc = Document(title="", body="NATO summit")
    assert [hit.text for hit in match(parse("NOT (NOT nato OR russia)"), doc)] == ["NATO"]


def test_hits_are_capped() -> None:
    vocabulary = [f"w{n}" for n in range(15)]
    doc = Document(title="", body=" ".join(vocabulary))
    hits = match(parse(" OR ".join(vocabulary)), doc)
    assert [hit.text for hit in hits] == vocabulary[:MAX_HITS]


def test_snippet_is_cut_on_word_boundaries_with_ellipses() -> None:
    before = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima"
    after = "mike november oscar papa quebec romeo sierra tango uniform victor whiskey"
    doc = Document(title="", body=f"{before}\n\n  NATO   summit, {after}")
    (hit,) = match(parse("NATO"), doc)
    assert hit.snippet == (
        "…delta echo foxtrot golf hotel india juliett kilo lima NATO summit, mike november "
        "oscar papa quebec romeo sierra…"
    )


def test_snippet_keeps_punctuation_glued_to_edge_words() -> None:
    body = "x " * 40 + '"Putin, Xi" and NATO met (AP). ' + "y " * 40
    doc = Document(title="", body=body)
    (hit,) = match(parse("NATO"), doc)
    assert hit.snippet.startswith("…x x")
    assert '"Putin, Xi" and NATO met (AP). y' in hit.snippet
    assert hit.snippet.endswith("y…")


def test_cjk_snippet_is_cut_between_characters() -> None:
    body = "一" * 100 + "北约" + "二" * 100
    (hit,) = match(parse("北约"), Document(title="", body=body))
    assert hit.text == "北约"
    assert hit.snippet == "…" + "一" * 60 + "北约" + "二" * 60 + "…"


def test_document_tokenises_each_field_once() -> None:
    doc = Document(title="NATO’s summit", body="")
    assert doc.index("title") is doc.index("title")
    assert [(t.word, t.start, t.end) for t in doc.tokens("title")] == [
        ("nato", 0, 4),
        ("s", 5, 6),
        ("summit", 7, 13),
    ]
    with pytest.raises(KeyError):
        doc.index("author")  # title and body only: other fields are sections (doc.scope)


# The real article from the seed corpus (first line is the headline).


@pytest.fixture(scope="module")
def seed_article() -> Document:
    title, _, body = (
        require_corpus("seed", "nato-taiwan-olympics.txt")
        .read_text(encoding="utf-8")
        .partition("\n")
    )
    return Document(title=title, body=body)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NATO", True),
        ("Taiwan", True),
        ("Olympics OR Olympic", True),
        ('"Vladimir Putin" AND "Xi Jinping"', True),
        ("senator", False),
        ("Taiwanese", False),
        ("NATO NOT Taiwan", False),
    ],
)
def test_seed_article(seed_article: Document, query: str, expected: bool) -> None:
    assert bool(match(parse(query), seed_article)) is expected


def test_seed_article_hits(seed_article: Document) -> None:
    hits = match(parse("Olympics OR Olympic"), seed_article)
    assert [(hit.field, hit.text) for hit in hits] == [
        ("title", "Olympics"),
        ("body", "Olympics"),
        ("body", "Olympic"),
    ]
    assert hits[0].snippet == seed_article.title
    assert all(len(hit.snippet) < 2 * 60 + 40 for hit in hits)


# The Matcher


def test_matcher_returns_only_matching_rules_in_order() -> None:
    matcher = Matcher.compile([("taiwan", "Taiwan"), ("nato", "NATO"), ("none", "senator")])
    assert matcher.rule_ids == ("taiwan", "nato", "none")
    result = matcher.match(Document(title="NATO and Taiwan", body=""))
    assert list(result) == ["taiwan", "nato"]
    assert result["nato"] == [Hit("title", "NATO", "NATO and Taiwan")]


def test_matcher_names_the_failing_rule() -> None:
    with pytest.raises(QueryError) as caught:
        Matcher.compile([("ok", "NATO"), ("w2", "NATO AND (expansion")])
    assert caught.value.message == "rule 'w2': unclosed '('"
    assert caught.value.position == 9
    assert caught.value.query == "NATO AND (expansion"


def test_matcher_refuses_duplicate_rule_ids() -> None:
    with pytest.raises(QueryError, match="rule 'a': duplicate rule id"):
        Matcher.compile([("a", "NATO"), ("a", "Taiwan")])


# Property: `match` agrees with a regex over the whole folded text.

VOCABULARY = ["nato", "zurich", "taiwan", "olympics", "нато"]
SURFACE = {
    "nato": ["NATO", "nato", "Nato"],
    "zurich": ["Zürich", "ZURICH", "zu\u0308rich"],
    "taiwan": ["Taiwan", "TAIWAN"],
    "olympics": ["Olympics", "olympics"],
    "нато": ["НАТО", "нато"],
}
DISTRACTORS = ["senator", "Donato", "Taiwanese", "Zürichsee", "olympic", "x"]
SEPARATORS = [" ", "  ", "\n", "-", "'", "’", ", ", ". ", " (", ") "]

TEXT_WORDS = st.sampled_from([s for forms in SURFACE.values() for s in forms] + DISTRACTORS)
TEXTS = st.lists(st.tuples(TEXT_WORDS, st.sampled_from(SEPARATORS)), max_size=12).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)
QUERY_WORDS = st.sampled_from(VOCABULARY)
LEAVES = st.one_of(
    QUERY_WORDS.map(Term),
    st.lists(QUERY_WORDS, min_size=2, max_size=3).map(lambda ws: Phrase(tuple(ws))),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(children.map(Not), many.map(And), many.map(Or))


QUERIES = st.recursive(LEAVES, _extend, max_leaves=8).filter(lambda q: not true_when_empty(q))


def reference_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def reference_leaf(words_: tuple[str, ...], folded: str) -> bool:
    body = r"[\W_]+".join(re.escape(word) for word in words_)
    return re.search(rf"(?<![^\W_]){body}(?![^\W_])", folded) is not None


def reference(node: Node, title: str, body: str) -> bool:
    if isinstance(node, Term | Phrase):
        wanted = leaf_words(node)
        return any(reference_leaf(wanted, reference_fold(text)) for text in (title, body))
    if isinstance(node, Not):
        return not reference(node.child, title, body)
    assert isinstance(node, And | Or)  # the strategy below builds nothing else
    results = [reference(child, title, body) for child in node.children]
    return all(results) if isinstance(node, And) else any(results)


def positive_phrases(node: Node, negated: bool = False) -> set[tuple[str, ...]]:
    if isinstance(node, Term | Phrase):
        return set() if negated else {leaf_words(node)}
    if isinstance(node, Not):
        return positive_phrases(node.child, not negated)
    assert isinstance(node, And | Or)
    return set().union(*(positive_phrases(child, negated) for child in node.children))


@given(QUERIES, TEXTS, TEXTS)
def test_match_agrees_with_reference(query: Node, title: str, body: str) -> None:
    hits = match(parse(render(query)), Document(title=title, body=body))
    assert bool(hits) is reference(query, title, body)
    for hit in hits:
        assert words(hit.text) in positive_phrases(query)
        source = title if hit.field == "title" else body
        assert hit.text in " ".join(source.split())
        assert hit.text in hit.snippet
