"""Watchlist query text -> syntax tree (`worker.rules.ast`).

Grammar, by rising precedence (NOT binds tighter than AND, AND tighter than OR, NEAR tightest):

    query   := or_expr END
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*          adjacent operands are an implicit AND
    unary   := ("NOT" | "-") unary | near
    near    := primary [("NEAR/n" | "ONEAR/n") primary]
    primary := FIELD primary | "=" (WORD | PHRASE) | WORD | PHRASE ["~n"]
             | "(" or_expr ")" | "atleast(" NUMBER ("," leaf)+ ")"

Only uppercase AND, OR, NOT, NEAR/n, ONEAR/n are operators; `and`, `or`, `not` are ordinary words.
A text field prefix (`title:`) applies to every leaf under it; `site:` and `lang:` take one value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from worker.errors import QueryError
from worker.rules.ast import (
    META_FIELDS,
    And,
    AtLeast,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    blame_when_empty,
    true_when_empty,
)
from worker.rules.leaves import LeafError, meta_leaf, phrase_leaf, word_leaf
from worker.rules.lexer import MAX_NUMBER, Kind, QueryToken, lex

# Deep enough for any real query, shallow enough to stay far from Python's recursion limit.
MAX_DEPTH = 100
MAX_COUNT = MAX_NUMBER
LeafT = TypeVar("LeafT", bound=Node)
_STARTS_OPERAND = (
    Kind.WORD,
    Kind.PHRASE,
    Kind.LPAREN,
    Kind.NOT,
    Kind.MINUS,
    Kind.FIELD,
    Kind.EXACT,
    Kind.FUNC,
)


def parse_query(query: str) -> Node:
    """Parse `query`; raises `worker.errors.QueryError` with the position of the fault."""
    return _Parser(query).parse()


class _Parser:
    """Recursive descent over the lexed tokens; one method per grammar rule."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = lex(query)
        self.index = 0
        self.depth = 0
        self.field = ""  # the text field prefix in force, pushed down into leaves

    def parse(self) -> Node:
        if self._peek().kind is Kind.END:
            raise self._error("empty query", 0)
        node = self._or_expr(None)
        leftover = self._peek()
        if leftover.kind is not Kind.END:  # a ")" or a "," can stop the descent early
            raise self._error(f"unmatched '{leftover.text}'", leftover.position)
        if true_when_empty(node):
            raise self._error("a query needs at least one positive term", blame_when_empty(node))
        return node

    def _or_expr(self, after: QueryToken | None) -> Node:
        start = self._peek().position
        children = [self._and_expr(after)]
        while self._peek().kind is Kind.OR:
            operator = self._advance()
            children.append(self._and_expr(operator))
        return children[0] if len(children) == 1 else Or(tuple(children), start)

    def _and_expr(self, after: QueryToken | None) -> Node:
        start = self._peek().position
        children = [self._unary(after)]
        while True:
            upcoming = self._peek()
            if upcoming.kind is Kind.AND:
                children.append(self._unary(self._advance()))
            elif upcoming.kind in _STARTS_OPERAND:
                children.append(self._unary(None))
            else:
                break
        return children[0] if len(children) == 1 else And(tuple(children), start)

    def _unary(self, after: QueryToken | None) -> Node:
        upcoming = self._peek()
        if upcoming.kind not in (Kind.NOT, Kind.MINUS):
            return self._near(after)
        operator = self._advance()
        with self._nested(operator):
            child = self._unary(operator)
        return Not(child, operator.position)

    def _near(self, after: QueryToken | None) -> Node:
        left = self._primary(after)
        if self._peek().kind is not Kind.NEAR:
            return left
        operator = self._advance()
        right = self._primary(operator)
        for side in (left, right):
            if not _proximity_operand(side):
                message = f"{operator.text} takes a word, a phrase or an OR of them on each side"
                raise self._error(message, operator.position)
        if self._peek().kind is Kind.NEAR:
            message = "NEAR cannot be chained: combine two NEARs with AND"
            raise self._error(message, self._peek().position)
        assert operator.number is not None
        return Near(left, right, operator.number, operator.ordered, operator.position)

    def _primary(self, after: QueryToken | None) -> Node:
        upcoming = self._peek()
        if upcoming.kind is Kind.FIELD:
            return self._field(self._advance())
        if upcoming.kind in (Kind.WORD, Kind.PHRASE, Kind.EXACT):
            return self._leaf()
        if upcoming.kind is Kind.LPAREN:
            return self._group(self._advance())
        if upcoming.kind is Kind.FUNC:
            return self._atleast(self._advance())
        raise self._missing_operand(upcoming, after)

    def _field(self, token: QueryToken) -> Node:
        if token.text in META_FIELDS:
            value = self._advance()
            if value.kind not in (Kind.WORD, Kind.PHRASE):
                raise self._error(
                    f"{token.text}: takes one value, as in site:bbc.co.uk", value.position
                )
            return self._leaf_or_error(
                lambda: meta_leaf(token.text, value.text, token.position), value
            )
        if self.field:
            raise self._error(f"'{token.text}:' inside '{self.field}:'", token.position)
        self.field = token.text
        try:
            return self._primary(QueryToken(Kind.FIELD, token.text + ":", token.position))
        finally:
            self.field = ""

    def _leaf(self) -> Leaf:
        exact = self._peek().kind is Kind.EXACT
        marker = self._advance() if exact else None
        token = self._advance()
        if token.kind is Kind.WORD:
            return self._leaf_or_error(
                lambda: word_leaf(token.text, token.position, self.field, exact), token
            )
        if token.kind is Kind.PHRASE:
            return self._leaf_or_error(
                lambda: phrase_leaf(
                    token.text, token.position, self.field, exact, True, token.number
                ),
                token,
            )
        assert marker is not None
        raise self._error(
            "'=' must be directly followed by a word or phrase (=NATO)", marker.position
        )

    def _leaf_or_error(self, build: Callable[[], LeafT], token: QueryToken) -> LeafT:
        try:
            return build()
        except LeafError as error:
            raise self._error(error.message, token.position + error.offset) from error

    def _group(self, opening: QueryToken) -> Node:
        if self._peek().kind is Kind.RPAREN:
            raise self._error("empty parentheses", opening.position)
        with self._nested(opening):
            inner = self._or_expr(opening)
        if self._peek().kind is not Kind.RPAREN:
            raise self._error("unclosed '('", opening.position)
        self._advance()
        return inner

    def _atleast(self, function: QueryToken) -> AtLeast:
        self._advance()  # the "(" the lexer put right after the name
        count = self._advance()
        if count.kind is not Kind.WORD or not count.text.isdecimal() or int(count.text) < 1:
            raise self._error("atleast needs a count first, as in atleast(3, NATO)", count.position)
        children: list[Leaf] = []
        while self._peek().kind is Kind.COMMA:
            self._advance()
            child = self._primary(function)
            if not isinstance(child, Term | Phrase) or _sloppy(child):
                raise self._error(
                    "atleast counts words or phrases only", child_position(child, count)
                )
            children.append(child)
        if not children or self._peek().kind is not Kind.RPAREN:
            raise self._error(
                "atleast needs a ',' and a word or phrase, then ')'", self._peek().position
            )
        self._advance()
        return AtLeast(min(int(count.text), MAX_COUNT), tuple(children), function.position)

    def _missing_operand(self, found: QueryToken, after: QueryToken | None) -> QueryError:
        if found.kind in (Kind.AND, Kind.OR, Kind.NEAR):
            return self._error(f"{found.text} needs a term before it", found.position)
        if after is not None and after.kind is Kind.LPAREN:
            return self._error("unclosed '('", after.position)
        if after is not None and after.kind is Kind.FUNC:
            return self._error("atleast needs a word or phrase after ','", found.position)
        if after is not None:
            return self._error(f"{after.text} needs a term after it", after.position)
        return self._error(f"unmatched '{found.text}'", found.position)

    @contextmanager
    def _nested(self, token: QueryToken) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"query nested deeper than {MAX_DEPTH} levels", token.position)
        yield
        self.depth -= 1

    def _peek(self) -> QueryToken:
        return self.tokens[self.index]

    def _advance(self) -> QueryToken:
        token = self.tokens[self.index]
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def _error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)


def _sloppy(node: Node) -> bool:
    return isinstance(node, Phrase) and node.slop is not None


def _proximity_operand(node: Node) -> bool:
    if isinstance(node, Or):
        return all(_proximity_operand(child) for child in node.children)
    return isinstance(node, Term | Phrase) and not _sloppy(node)


def child_position(node: Node, fallback: QueryToken) -> int:
    return getattr(node, "position", fallback.position)
