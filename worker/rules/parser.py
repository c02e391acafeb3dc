"""Watchlist query text -> syntax tree (`worker.rules.ast`).

Grammar, by rising precedence (NOT binds tighter than AND, AND tighter than OR):

    query   := or_expr END
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*          adjacent operands are an implicit AND
    unary   := ("NOT" | "-") unary | primary
    primary := WORD | PHRASE | "(" or_expr ")"

Only uppercase AND, OR, NOT are operators; `and`, `or`, `not` are ordinary words. Characters that
later syntax will need (wildcards, proximity, fields, case-sensitivity, functions) are refused in
bare words with "not supported yet", so no query changes meaning when that syntax arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from worker.errors import QueryError
from worker.rules.ast import And, Node, Not, Or, Phrase, Term, blame_when_empty, true_when_empty
from worker.rules.text import words

OPENING_QUOTES = '"“„'
CLOSING_QUOTES = '"”“'
_DELIMITERS = "()" + OPENING_QUOTES + CLOSING_QUOTES
_KEYWORDS = ("AND", "OR", "NOT")
_RESERVED = {
    "*": "wildcards",
    "?": "wildcards",
    ":": "fields (title:, site:, ...)",
    "~": "proximity",
    "/": "proximity (NEAR/5)",
    "=": "case-sensitive terms (=NATO)",
}
# Deep enough for any real query, shallow enough to stay far from Python's recursion limit.
MAX_DEPTH = 100


class Kind(Enum):
    WORD = "word"
    PHRASE = "phrase"
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    MINUS = "-"
    END = "end of query"


@dataclass(frozen=True)
class QueryToken:
    """A lexical token of the query; `text` is the word or the phrase's inner text."""

    kind: Kind
    text: str
    position: int


_STARTS_OPERAND = frozenset({Kind.WORD, Kind.PHRASE, Kind.LPAREN, Kind.NOT, Kind.MINUS})


def parse_query(query: str) -> Node:
    """Parse a watchlist query. Raises QueryError with the exact character position of a fault."""
    return _Parser(query).parse()


def lex(query: str) -> list[QueryToken]:
    """Split query text into tokens that keep their positions; ends with an END token."""
    tokens: list[QueryToken] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(QueryToken(Kind(char), char, index))
            index += 1
        elif char in OPENING_QUOTES:
            index = _lex_phrase(query, index, tokens)
        elif char in CLOSING_QUOTES:
            raise QueryError("closing quote without an opening quote", query, index)
        elif char == "-":
            index = _lex_minus(query, index, tokens)
        else:
            index = _lex_word(query, index, tokens)
    tokens.append(QueryToken(Kind.END, "", len(query)))
    return tokens


def _lex_phrase(query: str, start: int, tokens: list[QueryToken]) -> int:
    end = _find_any(query, CLOSING_QUOTES, start + 1)
    if end < 0:
        raise QueryError("unterminated quote", query, start)
    tokens.append(QueryToken(Kind.PHRASE, query[start + 1 : end], start))
    return end + 1


def _lex_minus(query: str, start: int, tokens: list[QueryToken]) -> int:
    following = query[start + 1 : start + 2]
    if not following or following.isspace() or following == ")":
        raise QueryError("'-' must be directly followed by a term", query, start)
    tokens.append(QueryToken(Kind.MINUS, "-", start))
    return start + 1


def _lex_word(query: str, start: int, tokens: list[QueryToken]) -> int:
    end = start
    while end < len(query) and not query[end].isspace() and query[end] not in _DELIMITERS:
        end += 1
    word = query[start:end]
    if word in _KEYWORDS:
        tokens.append(QueryToken(Kind(word), word, start))
        return end
    _refuse_reserved(query, start, end)
    tokens.append(QueryToken(Kind.WORD, word, start))
    return end


def _refuse_reserved(query: str, start: int, end: int) -> None:
    for offset in range(start, end):
        feature = _RESERVED.get(query[offset])
        if feature is not None:
            message = f"'{query[offset]}' is reserved for {feature}, not supported yet"
            raise QueryError(message, query, offset)
    if query[end : end + 1] == "(":
        message = "functions such as atleast(...) are not supported yet"
        raise QueryError(message, query, start)


def _find_any(text: str, chars: str, start: int) -> int:
    for index in range(start, len(text)):
        if text[index] in chars:
            return index
    return -1


class _Parser:
    """Recursive descent over the lexed tokens; one method per grammar rule."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = lex(query)
        self.index = 0
        self.depth = 0

    def parse(self) -> Node:
        if self._peek().kind is Kind.END:
            raise self._error("empty query", 0)
        node = self._or_expr(None)
        leftover = self._peek()
        if leftover.kind is not Kind.END:  # only a ")" can stop the descent early
            raise self._error("unmatched ')'", leftover.position)
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
            return self._primary(after)
        operator = self._advance()
        self._enter(operator)
        child = self._unary(operator)
        self.depth -= 1
        return Not(child, operator.position)

    def _primary(self, after: QueryToken | None) -> Node:
        upcoming = self._peek()
        if upcoming.kind is Kind.WORD:
            return self._word(self._advance())
        if upcoming.kind is Kind.PHRASE:
            return self._phrase(self._advance())
        if upcoming.kind is Kind.LPAREN:
            return self._group(self._advance())
        raise self._missing_operand(upcoming, after)

    def _group(self, opening: QueryToken) -> Node:
        if self._peek().kind is Kind.RPAREN:
            raise self._error("empty parentheses", opening.position)
        self._enter(opening)
        inner = self._or_expr(opening)
        self.depth -= 1
        if self._peek().kind is not Kind.RPAREN:
            raise self._error("unclosed '('", opening.position)
        self._advance()
        return inner

    def _word(self, token: QueryToken) -> Node:
        found = words(token.text)
        if not found:
            raise self._error(f"'{token.text}' has no letters or digits to match", token.position)
        if len(found) == 1:
            return Term(found[0], token.text, token.position)
        return Phrase(found, token.text, token.position)

    def _phrase(self, token: QueryToken) -> Node:
        found = words(token.text)
        if not found:
            raise self._error("empty phrase", token.position)
        return Phrase(found, token.text, token.position)

    def _missing_operand(self, found: QueryToken, after: QueryToken | None) -> QueryError:
        if found.kind in (Kind.AND, Kind.OR):
            return self._error(f"{found.text} needs a term before it", found.position)
        if after is not None and after.kind is Kind.LPAREN:
            return self._error("unclosed '('", after.position)
        if after is not None:
            return self._error(f"{after.text} needs a term after it", after.position)
        return self._error("unmatched ')'", found.position)

    def _enter(self, token: QueryToken) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self._error(f"query nested deeper than {MAX_DEPTH} levels", token.position)

    def _peek(self) -> QueryToken:
        return self.tokens[self.index]

    def _advance(self) -> QueryToken:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)
