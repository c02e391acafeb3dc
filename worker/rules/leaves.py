"""Building the leaves of a query from its words: plain, case-sensitive (`=NATO`), wildcard
(`olymp*`, `colo?r`) and the `site:` / `lang:` values."""

from __future__ import annotations

import re
import unicodedata

from worker.rules.ast import WILDCARDS, Meta, Phrase, Term
from worker.rules.text import fold, tokenize, word_spans

MIN_WILDCARD_PREFIX = 2  # letters before the first * or ?: "a*" would match a fifth of English
_WILDCARD_SPLIT = re.compile("([*?])")
_DOMAIN_RE = re.compile(r"[^\W_]([\w-]*[^\W_])?(\.[^\W_]([\w-]*[^\W_])?)*")
_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")


class LeafError(ValueError):
    """A word that cannot become a leaf; `offset` is relative to the word's start."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def word_leaf(text: str, position: int, field: str, exact: bool) -> Term | Phrase:
    """A bare word: one Term, a Phrase if punctuation splits it, or a wildcard Term."""
    if any(char in text for char in WILDCARDS):
        if exact:
            raise LeafError("case-sensitive words cannot use wildcards")
        return wildcard_term(text, position, field)
    return phrase_leaf(text, position, field, exact, phrase=False)


def phrase_leaf(
    text: str, position: int, field: str, exact: bool, phrase: bool = True, slop: int | None = None
) -> Term | Phrase:
    tokens = tokenize(text)
    if not tokens:
        message = "empty phrase" if phrase else f"'{text}' has no letters or digits to match"
        raise LeafError(message)
    words = tuple(token.word for token in tokens)
    written = tuple(unicodedata.normalize("NFC", text[t.start : t.end]) for t in tokens)
    if len(words) == 1 and not phrase:
        return Term(words[0], text, position, field, written[0] if exact else "")
    return Phrase(words, text, position, field, written if exact else (), slop)


def wildcard_term(text: str, position: int, field: str) -> Term:
    spans = word_spans(re.sub("[*?]", "x", text))
    if len(spans) != 1:
        raise LeafError("a wildcard must stay within one word (no spaces or punctuation)")
    start, end = spans[0]
    pieces = _WILDCARD_SPLIT.split(text[start:end])
    pattern = re.sub(r"\*+", "*", "".join(p if p in WILDCARDS else fold(p) for p in pieces))
    prefix = re.split("[*?]", pattern)[0]
    if len(prefix) < MIN_WILDCARD_PREFIX:
        first = min(text.find(c) for c in WILDCARDS if c in text)
        message = f"a wildcard needs at least {MIN_WILDCARD_PREFIX} letters before '*' or '?'"
        raise LeafError(message, first)
    return Term(pattern, text, position, field)


def meta_leaf(field: str, text: str, position: int) -> Meta:
    value = text.strip().lower().rstrip(".").replace("_", "-")
    if field == "site" and _DOMAIN_RE.fullmatch(value) is None:
        raise LeafError(f"site: takes a domain such as bbc.co.uk, not '{text}'")
    if field == "lang" and _LANGUAGE_RE.fullmatch(value) is None:
        raise LeafError(f"lang: takes a language code such as en or pt-br, not '{text}'")
    return Meta(field, value, position)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """The regex a folded word must fully match for wildcard `pattern`."""
    parts = (".*" if p == "*" else "." if p == "?" else re.escape(p) for p in pattern)
    return re.compile("".join(parts), re.DOTALL)


def site_matches(value: str, site: str) -> bool:
    """`site:bbc.co.uk` matches bbc.co.uk and any subdomain of it (www., news.)."""
    return site == value or site.endswith("." + value)


def lang_matches(value: str, lang: str) -> bool:
    """`lang:en` matches en, en-gb, en-us; `lang:en-gb` only en-gb (and its sub-tags)."""
    return lang == value or lang.startswith(value + "-")
