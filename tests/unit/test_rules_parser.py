"""The query parser: every operator, precedence, every error with its position."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.errors import QueryError
from worker.rules import And, Node, Not, Or, Phrase, Term, parse_query
from worker.rules.ast import render, true_when_empty
from worker.rules.parser import MAX_DEPTH


def T(word: str) -> Term:
    return Term(word)


def P(*words: str) -> Phrase:
    return Phrase(words)


a, b, c, d = T("a"), T("b"), T("c"), T("d")

PARSES: list[tuple[str, Node]] = [
    ("NATO", T("nato")),
    ("  nato  ", T("nato")),
    ('"Baltic Sea"', P("baltic", "sea")),
    ("“Baltic Sea”", P("baltic", "sea")),
    ("„Baltic Sea“", P("baltic", "sea")),
    ('"NATO"', P("nato")),
    ('"rock AND roll"', P("rock", "and", "roll")),
    ('"NATO-led  forces"', P("nato", "led", "forces")),
    # implicit and explicit AND, OR, NOT, -
    ("a b", And((a, b))),
    ("a AND b", And((a, b))),
    ("a b c", And((a, b, c))),
    ("a AND b c", And((a, b, c))),
    ("a OR b", Or((a, b))),
    ("a OR b OR c", Or((a, b, c))),
    ("a NOT b", And((a, Not(b)))),
    ("a AND NOT b", And((a, Not(b)))),
    ("a -b", And((a, Not(b)))),
    ("NOT a b", And((Not(a), b))),
    ('a -"b c"', And((a, Not(P("b", "c"))))),
    ("a -(b OR c)", And((a, Not(Or((b, c)))))),
    ("a NOT NOT b", And((a, Not(Not(b))))),
    ("a --b", And((a, Not(Not(b))))),
    # precedence: NOT > AND (explicit or implicit) > OR
    ("a OR b c", Or((a, And((b, c))))),
    ("a b OR c", Or((And((a, b)), c))),
    ("a OR b AND c", Or((a, And((b, c))))),
    ("a AND b OR c AND d", Or((And((a, b)), And((c, d))))),
    ("a NOT b OR c", Or((And((a, Not(b))), c))),
    ("a OR b NOT c", Or((a, And((b, Not(c)))))),
    ("(a OR b) c", And((Or((a, b)), c))),
    ("a (b OR c)", And((a, Or((b, c))))),
    ("((a))", a),
    ("(a)(b)", And((a, b))),
    ("NOT(a) b", And((Not(a), b))),
    (
        'NATO AND (expansion OR enlargement) NOT "Baltic Sea"',
        And((T("nato"), Or((T("expansion"), T("enlargement"))), Not(P("baltic", "sea")))),
    ),
    # only uppercase keywords are operators
    ("a and b", And((a, T("and"), b))),
    ("a or b", And((a, T("or"), b))),
    ("a not b", And((a, T("not"), b))),
    ("And Or Not", And((T("and"), T("or"), T("not")))),
    # words are folded and split like document text
    ("NATO-led", P("nato", "led")),
    ("NATO's", P("nato", "s")),
    ("NATO’s", P("nato", "s")),
    ("Zürich", T("zurich")),
    ("ZURICH", T("zurich")),
    ("НАТО", T("нато")),
    ("Αθήνα", T("αθηνα")),
    ("北约", P("北", "约")),
    ("AT&T", P("at", "t")),
    ("a-", a),
    ('"a b"c', And((P("a", "b"), c))),
]


@pytest.mark.parametrize(("query", "expected"), PARSES)
def test_parses(query: str, expected: Node) -> None:
    assert parse_query(query) == expected


def test_nodes_keep_raw_text_and_position() -> None:
    node = parse_query('x OR -"NATO-led" Zürich')
    assert isinstance(node, Or)
    right = node.children[1]
    assert isinstance(right, And)
    negated, term = right.children
    assert isinstance(negated, Not) and negated.position == 5
    assert isinstance(negated.child, Phrase)
    assert (negated.child.raw, negated.child.position) == ("NATO-led", 6)
    assert isinstance(term, Term) and (term.raw, term.position) == ("Zürich", 17)


ERRORS: list[tuple[str, str, int]] = [
    ("", "empty query", 0),
    ("   ", "empty query", 0),
    ("NOT x", "a query needs at least one positive term", 0),
    ("-x", "a query needs at least one positive term", 0),
    ("NOT (a AND b)", "a query needs at least one positive term", 0),
    ("a OR NOT b", "a query needs at least one positive term", 5),
    ("a OR -b", "a query needs at least one positive term", 5),
    ("(a", "unclosed '('", 0),
    ("a (b OR (c)", "unclosed '('", 2),
    ("(", "unclosed '('", 0),
    ("a)", "unmatched ')'", 1),
    (")a", "unmatched ')'", 0),
    ("(a) b)", "unmatched ')'", 5),
    ("()", "empty parentheses", 0),
    ("a ( )", "empty parentheses", 2),
    ("a AND", "AND needs a term after it", 2),
    ("a OR", "OR needs a term after it", 2),
    ("a NOT", "NOT needs a term after it", 2),
    ("NOT", "NOT needs a term after it", 0),
    ("(a AND) b", "AND needs a term after it", 3),
    ("AND a", "AND needs a term before it", 0),
    ("OR a", "OR needs a term before it", 0),
    ("(OR a)", "OR needs a term before it", 1),
    ("a AND OR b", "OR needs a term before it", 6),
    ("a OR AND b", "AND needs a term before it", 5),
    ('"abc', "unterminated quote", 0),
    ('a "b c', "unterminated quote", 2),
    ("“abc", "unterminated quote", 0),
    ("a ” b", "closing quote without an opening quote", 2),
    ('""', "empty phrase", 0),
    ('a " "', "empty phrase", 2),
    ('"..."', "empty phrase", 0),
    ("- a", "'-' must be directly followed by a term", 0),
    ("a -", "'-' must be directly followed by a term", 2),
    ("(a -)", "'-' must be directly followed by a term", 3),
    ("a & b", "'&' has no letters or digits to match", 2),
    (
        "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
        "query nested deeper than 100 levels",
        MAX_DEPTH,
    ),
    ("NOT " * (MAX_DEPTH + 1) + "a", "query nested deeper than 100 levels", 4 * MAX_DEPTH),
]


@pytest.mark.parametrize(("query", "message", "position"), ERRORS)
def test_errors(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    error = caught.value
    assert error.message.startswith(message)
    assert error.position == position
    assert error.query == query


def test_negation_is_fine_when_another_term_is_required() -> None:
    assert parse_query("(a OR -b) c") == And((Or((a, Not(b))), c))


def test_error_renders_a_caret_under_the_fault() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("NATO AND (expansion")
    assert str(caught.value).splitlines() == [
        "unclosed '(' at position 9",
        "  NATO AND (expansion",
        "           ^",
    ]


# Property: the canonical rendering of any tree parses back to the same tree.

WORDS = st.sampled_from(["nato", "taiwan", "zurich", "and", "or", "not", "нато", "1990"])
LEAVES = st.one_of(
    WORDS.map(Term),
    st.lists(WORDS, min_size=1, max_size=3).map(lambda ws: Phrase(tuple(ws))),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(children.map(Not), many.map(And), many.map(Or))


TREES: st.SearchStrategy[Node] = st.recursive(LEAVES, _extend, max_leaves=10)


@given(TREES)
def test_render_parses_back_or_is_refused_as_purely_negative(tree: Node) -> None:
    text = render(tree)
    if true_when_empty(tree):
        with pytest.raises(QueryError, match="at least one positive term"):
            parse_query(text)
    else:
        assert parse_query(text) == tree
