"""The full query language, operator by operator, with its traps: case-sensitive terms,
wildcards, proximity, fields, atleast, and the errors of each."""

from __future__ import annotations

import pytest

from worker.errors import QueryError
from worker.rules import Document, match, parse_query
from worker.rules.ast import AtLeast, Meta, Near, Phrase, Term, render


def matched(query: str, body: str = "", **fields: str | tuple[str, ...]) -> bool:
    doc = Document(title=str(fields.pop("title", "")), body=body, **fields)  # type: ignore[arg-type]
    return bool(match(parse_query(query), doc))


CASES: list[tuple[str, str, bool]] = [
    # case-sensitive: =NATO is that exact spelling (case and accents), still a whole word
    ("=NATO", "NATO leaders", True),
    ("=NATO", "Nato leaders", False),
    ("=NATO", "nato leaders", False),
    ("=NATO", "NATO's allies", True),
    ("=NATO", "NATO-led", True),
    ("=NATO", "SENATOR", False),
    ("=Zürich", "Zurich", False),
    ("=Zürich", "Zu\u0308rich", True),  # NFC-equal spellings are the same
    ('="Vladimir Putin"', "Vladimir Putin said", True),
    ('="Vladimir Putin"', "VLADIMIR PUTIN said", False),
    ("=US troops", "US troops", True),
    ("=US troops", "let us see the troops", False),
    # wildcards: * any run of letters (also none), ? exactly one
    ("olymp*", "the Olympics", True),
    ("olymp*", "Olympic games", True),
    ("olymp*", "Olymp", True),
    ("olymp*", "Mount Olympus", True),
    ("olymp*", "the olive", False),
    ("Taiwan*", "Taiwanese voters", True),
    ("Taiwan", "Taiwanese voters", False),
    ("colo?r", "colour and color", True),
    ("colo?r", "color", False),
    ("colo?r", "colouur", False),
    ("zür*", "ZURICH", True),
    ("nato*", "senator", False),  # a wildcard still starts at a word's start
    ("ol*pics", "Olympics", True),
    ("ol*pics", "Olympic", False),
    # NEAR/n: at most n words between, either order; ONEAR/n in the given order
    ("NATO NEAR/2 expansion", "NATO eastward expansion", True),
    ("NATO NEAR/2 expansion", "expansion of the NATO", True),
    ("NATO NEAR/2 expansion", "NATO and its planned expansion", False),
    ("NATO NEAR/0 expansion", "NATO expansion", True),
    ("NATO NEAR/0 expansion", "NATO's expansion", False),  # "s" is a word
    ("NATO ONEAR/3 expansion", "NATO eastward expansion", True),
    ("NATO ONEAR/3 expansion", "expansion of NATO", False),
    ("NATO NEAR/3 NATO", "NATO", False),  # two distinct occurrences needed
    ("NATO NEAR/3 NATO", "NATO and NATO", True),
    ('"Xi Jinping" NEAR/3 Putin', "Xi Jinping met Putin", True),
    ('"Xi Jinping" NEAR/3 Putin', "Putin, Xi and Jinping", False),
    ("(NATO OR OTAN) NEAR/1 summit", "the OTAN summit", True),
    ("(NATO OR OTAN) NEAR/1 summit", "the UN summit", False),
    ("olymp* NEAR/2 Paris", "Paris Olympics", True),
    # "a b"~n: every word within len+n words, any order
    ('"Putin Xi"~5', "Putin will meet China's Xi", True),
    ('"Putin Xi"~5', "Xi and Putin", True),
    ('"Putin Xi"~1', "Putin will meet Xi", False),
    ('"Putin Xi"~2', "Putin will meet Xi", True),
    ('"a b c"~0', "c b a", True),
    ('"a a"~3', "a b", False),
    # a phrase never spans title and body, nor does proximity
    ('"Putin Xi"~5', "Xi", False),
    # atleast: total occurrences of the listed words or phrases
    ("atleast(3, NATO)", "NATO, NATO and NATO", True),
    ("atleast(3, NATO)", "NATO, NATO and senator", False),
    ("atleast(2, NATO, OTAN)", "NATO and OTAN", True),
    ('atleast(2, "Baltic Sea")', "Baltic Sea, the Baltic sea", True),
    ("ATLEAST(2, x)", "x x", True),
    # hyphens, apostrophes, typographic quotes keep working under the new operators
    ("NATO-led", "NATO-led forces", True),
    ("=NATO-led", "NATO-led forces", True),
    ("“Baltic Sea”~0", "Sea Baltic", True),
]


@pytest.mark.parametrize(("query", "body", "expected"), CASES)
def test_operators(query: str, body: str, expected: bool) -> None:
    assert matched(query, body) is expected


def test_near_and_phrases_do_not_cross_title_and_body() -> None:
    assert not matched("NATO NEAR/5 summit", title="NATO", body="summit")
    assert matched("NATO summit", title="NATO", body="summit")


FIELD_CASES: list[tuple[str, dict[str, str | tuple[str, ...]], bool]] = [
    ("title:NATO", {"title": "NATO summit", "body": ""}, True),
    ("title:NATO", {"title": "summit", "body": "NATO"}, False),
    ("body:NATO", {"title": "NATO", "body": ""}, False),
    ("body:NATO", {"title": "", "body": "NATO"}, True),
    ('title:"NATO summit"', {"title": "NATO summit"}, True),
    ("title:(NATO OR OTAN) Madrid", {"title": "OTAN", "body": "Madrid"}, True),
    ("title:(NATO OR OTAN) Madrid", {"title": "Madrid", "body": "OTAN"}, False),
    ("-title:NATO summit", {"title": "", "body": "NATO summit"}, True),
    ("site:bbc.co.uk", {"site": "bbc.co.uk"}, True),
    ("site:bbc.co.uk", {"site": "www.bbc.co.uk"}, True),
    ("site:bbc.co.uk", {"site": "news.bbc.co.uk"}, True),
    ("site:bbc.co.uk", {"site": "notbbc.co.uk"}, False),
    ("site:bbc.co.uk", {"site": "bbc.co.uk.evil.com"}, False),
    ("site:BBC.co.uk", {"site": "https://www.bbc.co.uk/news/x"}, True),
    ("site:www.bbc.co.uk", {"site": "news.bbc.co.uk"}, False),
    ("site:bbc.co.uk", {"site": ""}, False),
    ("lang:en", {"lang": "en"}, True),
    ("lang:en", {"lang": "en-GB"}, True),
    ("lang:en", {"lang": "eng"}, False),
    ("lang:pt-br", {"lang": "pt_BR"}, True),
    ("lang:pt-br", {"lang": "pt"}, False),
    ("author:Smith", {"author": "Jane Smith"}, True),
    ("author:Smith", {"body": "Smith"}, False),
    ('author:"Jane Smith"', {"author": "Smith, Jane"}, False),
    ("feed:politics", {"feed": ("BBC News", "politics", "uk")}, True),
    ("feed:bbc", {"feed": ("BBC News", "politics")}, True),
    ('feed:"news politics"', {"feed": ("BBC News", "politics")}, False),  # entries apart
    ("Smith", {"author": "Jane Smith"}, False),  # plain words: title and body only
]


@pytest.mark.parametrize(("query", "fields", "expected"), FIELD_CASES)
def test_fields(query: str, fields: dict[str, str | tuple[str, ...]], expected: bool) -> None:
    body = str(fields.pop("body", ""))
    assert matched(query, body, **fields) is expected


PARSES = [
    ("=NATO", Term("nato", exact="NATO")),
    ("olymp*", Term("olymp*")),
    ("Olymp**", Term("olymp*")),
    ("ZÜR?CH", Term("zur?ch")),
    ("a NEAR/5 b", Near(Term("a"), Term("b"), 5)),
    ("a ONEAR/5 b", Near(Term("a"), Term("b"), 5, ordered=True)),
    ('"a b"~3', Phrase(("a", "b"), slop=3)),
    ("title:NATO", Term("nato", field="title")),
    ("TITLE:NATO", Term("nato", field="title")),
    ("site:www.BBC.co.uk.", Meta("site", "www.bbc.co.uk")),
    ('site:"bbc.co.uk"', Meta("site", "bbc.co.uk")),
    ("lang:EN_gb", Meta("lang", "en-gb")),
    ("atleast(2, a, b)", AtLeast(2, (Term("a"), Term("b")))),
    ("24/7", Phrase(("24", "7"))),  # a slash is punctuation
    ("NEARBY", Term("nearby")),
    ("near", Term("near")),
]


@pytest.mark.parametrize(("query", "expected"), PARSES)
def test_parses(query: str, expected: object) -> None:
    node = parse_query(query)
    assert node == expected
    assert parse_query(render(node)) == node


ERRORS: list[tuple[str, str, int]] = [
    ("*", "a wildcard needs at least 2 letters before '*' or '?'", 0),
    ("a*", "a wildcard needs at least 2 letters before '*' or '?'", 1),
    ("?at", "a wildcard needs at least 2 letters before '*' or '?'", 0),
    ("NATO-le*", "a wildcard must stay within one word", 0),
    ("=olymp*", "case-sensitive words cannot use wildcards", 1),
    ("= NATO", "'=' must be directly followed by a word or phrase", 0),
    ("a=b", "'=' only starts a word: =NATO", 1),
    ("a NEAR b", "NEAR needs a distance, as in NEAR/5", 2),
    ("a NEAR/x b", "NEAR needs a distance, as in NEAR/5", 2),
    ("a NEAR/5000 b", "5000 is too large (at most 1000)", 7),
    ("NEAR/5 b", "NEAR/5 needs a term before it", 0),
    ("a NEAR/5", "NEAR/5 needs a term after it", 2),
    ("(a b) NEAR/5 c", "NEAR/5 takes a word, a phrase or an OR of them on each side", 6),
    ("a NEAR/5 (b NOT c)", "NEAR/5 takes a word, a phrase or an OR of them on each side", 2),
    ("a NEAR/5 b NEAR/5 c", "NEAR cannot be chained", 11),
    ('"a b"~', "'~' needs a number of words after it", 5),
    ('"a b"~2x', "unexpected character after the ~ distance", 7),
    ("a~2", "'~' only follows a quoted phrase", 1),
    ("foo:bar", "unknown field 'foo:'", 0),
    ("title: NATO", "'title:' must be directly followed by a term", 5),
    ("title:", "'title:' must be directly followed by a term", 5),
    ("title:(body:a)", "'body:' inside 'title:'", 7),
    ("site:(a OR b)", "site: takes one value", 5),
    ("site:a_b!", "site: takes a domain", 5),
    ("lang:english", "lang: takes a language code", 5),
    ("atleast(x, a)", "atleast needs a count first", 8),
    ("atleast(0, a)", "atleast needs a count first", 8),
    ("atleast(2)", "atleast needs a ',' and a word or phrase, then ')'", 9),
    ("atleast(2, (a OR b))", "atleast counts words or phrases only", 12),
    ("atleast(2, a", "atleast needs a ',' and a word or phrase, then ')'", 12),
    ("foo(a)", "unknown function 'foo'", 0),
    ("NOT site:bbc.co.uk", "a query needs at least one positive term", 0),
]


@pytest.mark.parametrize(("query", "message", "position"), ERRORS)
def test_errors(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.position == position
    caret_line = str(caught.value).splitlines()[2]
    assert caret_line.index("^") == position + 2


def test_hits_of_new_operators() -> None:
    doc = Document(
        title="NATO summit", body="Leaders said NATO would grow.", site="www.bbc.co.uk", lang="en"
    )
    hits = match(parse_query("NATO NEAR/3 grow site:bbc.co.uk"), doc)
    assert [(h.field, h.text) for h in hits] == [
        ("body", "NATO"),
        ("body", "grow"),
        ("site", "www.bbc.co.uk"),
    ]
    counted = match(parse_query("atleast(2, NATO)"), doc)
    assert [(h.field, h.text) for h in counted] == [("title", "NATO"), ("body", "NATO")]
    assert [h.text for h in match(parse_query("=NATO gr*"), doc)] == ["NATO", "NATO", "grow"]


def test_html_entities_in_titles_with_exact_terms() -> None:
    assert matched("=AT&T", title="AT&amp;T results")
