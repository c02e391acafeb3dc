"""Query text -> lexical tokens, each with its character position for error messages.

Only uppercase AND, OR, NOT, NEAR/n and ONEAR/n are operators. A bare word that starts with a
known field name and a colon (`title:`) yields a FIELD token; `=` before a word or phrase yields
EXACT; `atleast(` yields FUNC, and until its `)` commas separate its arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from worker.errors import QueryError
from worker.rules.ast import META_FIELDS, TEXT_FIELDS

OPENING_QUOTES = '"“„'
CLOSING_QUOTES = '"”“'
_DELIMITERS = "()" + OPENING_QUOTES + CLOSING_QUOTES
_KEYWORDS = ("AND", "OR", "NOT")
_FIELDS = TEXT_FIELDS + META_FIELDS
_FUNCTIONS = ("atleast",)
_NEAR_RE = re.compile(r"(O?)NEAR/(\d{1,4})")
_NEAR_WORDS = ("NEAR", "ONEAR")
_NOT_AN_OPERAND = ")”"
MAX_NUMBER = 1000  # largest distance, slop or count: beyond it they only cost time


class Kind(Enum):
    WORD = "word"
    PHRASE = "phrase"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    MINUS = "-"
    EXACT = "="
    FIELD = "field"
    NEAR = "NEAR"
    FUNC = "function"
    END = "end of query"


@dataclass(frozen=True)
class QueryToken:
    """A lexical token: `text` is the word, the phrase's inner text, the field or function name.

    `number` is a NEAR distance or a phrase's ~slop (None when absent); `ordered` marks ONEAR."""

    kind: Kind
    text: str
    position: int
    number: int | None = None
    ordered: bool = False


def lex(query: str) -> list[QueryToken]:
    return _Lexer(query).run()


class _Lexer:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens: list[QueryToken] = []
        self.in_function = False

    def run(self) -> list[QueryToken]:
        index = 0
        while index < len(self.query):
            index = self._step(index)
        self.tokens.append(QueryToken(Kind.END, "", len(self.query)))
        return self.tokens

    def _step(self, index: int) -> int:
        char = self.query[index]
        if char.isspace():
            return index + 1
        if char in "()" or (char == "," and self.in_function):
            self.in_function = self.in_function and char != ")"
            return self._add(Kind(char), char, index)
        if char in OPENING_QUOTES:
            return self._phrase(index)
        if char in CLOSING_QUOTES:
            raise self._error("closing quote without an opening quote", index)
        if char in "-=":
            return self._prefix(index)
        return self._word(index)

    def _add(self, kind: Kind, text: str, index: int, **extra: int | bool | None) -> int:
        self.tokens.append(QueryToken(kind, text, index, **extra))  # type: ignore[arg-type]
        return index + len(text)

    def _phrase(self, start: int) -> int:
        end = _find_any(self.query, CLOSING_QUOTES, start + 1)
        if end < 0:
            raise self._error("unterminated quote", start)
        slop, after = self._slop(end + 1)
        self.tokens.append(QueryToken(Kind.PHRASE, self.query[start + 1 : end], start, slop))
        return after

    def _slop(self, index: int) -> tuple[int | None, int]:
        if self.query[index : index + 1] != "~":
            return None, index
        digits = re.match(r"\d+", self.query[index + 1 :])
        if digits is None:
            raise self._error("'~' needs a number of words after it, as in \"a b\"~5", index)
        end = index + 1 + digits.end()
        self._check_ends_token(end)
        return self._number(digits.group(), index + 1), end

    def _prefix(self, start: int) -> int:
        char = self.query[start]
        following = self.query[start + 1 : start + 2]
        if not following or following.isspace() or following in _NOT_AN_OPERAND:
            what = "a term" if char == "-" else "a word or phrase (=NATO)"
            raise self._error(f"'{char}' must be directly followed by {what}", start)
        return self._add(Kind.MINUS if char == "-" else Kind.EXACT, char, start)

    def _word(self, start: int) -> int:
        end = start
        stops = _DELIMITERS + ("," if self.in_function else "")
        while end < len(self.query) and not self.query[end].isspace():
            if self.query[end] in stops:
                break
            end += 1
        word = self.query[start:end]
        field = self._field_prefix(word, start)
        if field:
            return self._add(Kind.FIELD, field, start) + 1  # the colon is part of the token
        return self._plain_word(word, start, end)

    def _field_prefix(self, word: str, start: int) -> str:
        name, colon, _ = word.partition(":")
        if not colon:
            return ""
        if name.lower() not in _FIELDS:
            known = ", ".join(f"{field}:" for field in _FIELDS)
            raise self._error(f"unknown field '{name}:' (known: {known})", start)
        self._check_followed(start + len(name) + 1, f"'{name}:'")
        return name.lower()

    def _plain_word(self, word: str, start: int, end: int) -> int:
        if word in _KEYWORDS:
            return self._add(Kind(word), word, start)
        if word in _NEAR_WORDS or word.startswith(("NEAR/", "ONEAR/")):
            return self._near(word, start)
        if self.query[end : end + 1] == "(":
            return self._function(word, start)
        for offset, char in enumerate(word):
            if char in "~=":
                what = 'follows a quoted phrase: "a b"~5' if char == "~" else "starts a word: =NATO"
                raise self._error(f"'{char}' only {what}", start + offset)
        return self._add(Kind.WORD, word, start)

    def _near(self, word: str, start: int) -> int:
        found = _NEAR_RE.fullmatch(word)
        if found is None:
            raise self._error(f"{word.partition('/')[0]} needs a distance, as in NEAR/5", start)
        distance = self._number(found.group(2), start + len(found.group(1)) + 5)
        return self._add(Kind.NEAR, word, start, number=distance, ordered=bool(found.group(1)))

    def _function(self, word: str, start: int) -> int:
        if word.lower() not in _FUNCTIONS:
            message = f"unknown function '{word}' (known: atleast); put a space before '('"
            raise self._error(message, start)
        self.in_function = True
        end = self._add(Kind.FUNC, word.lower(), start)
        return self._add(Kind.LPAREN, "(", end)

    def _number(self, digits: str, position: int) -> int:
        if int(digits) > MAX_NUMBER:
            raise self._error(f"{digits} is too large (at most {MAX_NUMBER})", position)
        return int(digits)

    def _check_followed(self, index: int, what: str) -> None:
        following = self.query[index : index + 1]
        if not following or following.isspace() or following in ")":
            raise self._error(f"{what} must be directly followed by a term", index - 1)

    def _check_ends_token(self, index: int) -> None:
        following = self.query[index : index + 1]
        if following and not following.isspace() and following not in "(),":
            raise self._error("unexpected character after the ~ distance", index)

    def _error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)


def _find_any(text: str, chars: str, start: int) -> int:
    for index in range(start, len(text)):
        if text[index] in chars:
            return index
    return -1
