"""What rules run against: an article's fields, each tokenised once and then looked up many times.

Text fields (title, body, author, each feed name or tag) are *sections*: word lists that phrases
and proximity never cross. `site` and `lang` are sections too, so hits can point at them.
Everything expensive is computed on first use: most rules only ask whether a word is present, and
only matching rules need character offsets for their hits.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate, chain, repeat
from operator import add
from typing import NamedTuple
from urllib.parse import urlsplit

from worker.rules.text import (
    Token,
    folded_words,
    plain_ascii_bytes,
    raw_words,
    word_starts_ends,
)

FIELDS: tuple[str, ...] = ("title", "body")  # what an unqualified word is looked for in
_NONE: list[int] = []  # shared, never mutated
SEPARATOR = "\x00"  # between the words of `FieldIndex.joined`
SCAN_BUDGET = 96  # searches of one section before all its positions are recorded at once
OFFSET_BUDGET = 32  # single-word offset lookups of one section before all are listed at once
SPACE = ord(" ")
_WORD_START = re.compile(rb"(?<![^ ])[^ ]")  # a non-space not preceded by one: a word's start


def nul_joined(padded: bytes) -> str:
    """`FieldIndex.joined` from the translated ASCII bytes (`plain_ascii_bytes`): each run of
    spaces made one NUL by C-level replaces, with no Python object per word (listing the words
    and joining them cost three times as much on a 10 KB body). A run of k spaces takes about
    log2(k) passes."""
    while b"  " in padded:
        padded = padded.replace(b"  ", b" ")
    joined = padded.replace(b" ", SEPARATOR.encode()).decode("ascii")
    return joined if len(joined) > 1 else SEPARATOR * 2  # no word: as when joining none


class FieldIndex:
    """The words of one section and, on demand, their positions, offsets and exact spellings."""

    def __init__(self, text: str) -> None:
        self.text = text
        # leaf -> its occurrences here (see worker.rules.occurrences); keyed by the leaf node
        self.occurrence_cache: dict[object, list[tuple[int, int]]] = {}
        self._positions: dict[str, list[int]] = {}  # word -> positions, as found so far
        self._indexed = False  # whether _positions holds every word
        self._scans = 0  # full-text searches so far (see `positions`)
        self._lookups = 0  # offsets found one word at a time so far (see `_lazily`)
        self._starts_found: dict[int, int] = {}  # word -> its start, as found one at a time

    @cached_property
    def words(self) -> list[str]:
        """The folded words, in order; listed on first use (a match on one long body may need
        only `joined` and a few words' offsets)."""
        return folded_words(self.text)

    @cached_property
    def raw(self) -> list[str]:
        """The words as written, in order."""
        return raw_words(self.text)

    @cached_property
    def word_set(self) -> frozenset[str]:
        return frozenset(self.words)

    @cached_property
    def joined(self) -> str:
        """The folded words, each between NULs ("\0a\0b\0"): a run of consecutive words is a
        substring, found by C-level search (NUL is never part of a word, so matches align)."""
        padded = self._plain
        if padded is None or "words" in self.__dict__:
            return SEPARATOR + SEPARATOR.join(self.words) + SEPARATOR
        return nul_joined(padded)

    @cached_property
    def offsets(self) -> list[int]:
        """Offset in `joined` of the NUL before each word (built without a Python loop)."""
        lengths = map(add, map(len, self.words), repeat(1))
        return list(accumulate(lengths, initial=0))

    def positions(self, word: str) -> list[int]:
        """Ascending indices of folded `word`.

        A rule asks for a few words of a long body, so at first each word is found by its own
        C-level search of `joined`. Each search reads the whole section, though, and a busy
        article (dozens of phrase and proximity candidates) pays for many: after SCAN_BUDGET of
        them, one Python pass records every word's positions and later questions cost nothing
        (about the price of SCAN_BUDGET searches, so at most twice the cheaper choice)."""
        cache = self._positions
        found = cache.get(word)
        if found is None:
            if self._indexed:
                return _NONE
            if self._scans >= SCAN_BUDGET:
                self._index_all()
                return self._positions.get(word, _NONE)
            self._scans += 1
            found = cache[word] = self._search(word)
        return found

    def has_run(self, run: Sequence[str], needle: str) -> bool:
        """Whether the folded words `run` occur consecutively; `needle` is them NUL-joined with
        a NUL at each end (prepared once per rule). One C-level substring search, or, once the
        section is indexed, a comparison at each place of the run's rarest word."""
        if not self._indexed and self._scans < SCAN_BUDGET:
            self._scans += 1
            return needle in self.joined
        return self.find(run) is not None

    def _index_all(self) -> None:
        positions: dict[str, list[int]] = {}
        add = positions.setdefault
        for at, word in enumerate(self.words):
            add(word, []).append(at)
        self._positions = positions
        self._indexed = True

    def _search(self, word: str) -> list[int]:
        """The positions of `word`, from a C-level search of `joined`. A hit's word index is the
        number of NULs before it: counted between hits (C-level too) until the offsets have been
        listed for another reason, then looked up in them. Listing them is a Python-speed pass
        over every word, worth about fifteen counting searches, and a match's hits usually
        need two or three searches."""
        joined, needle = self.joined, SEPARATOR + word + SEPARATOR
        listed = self.__dict__.get("offsets")
        found: list[int] = []
        index = counted = 0
        at = joined.find(needle)
        while at >= 0:
            if listed is None:
                index += joined.count(SEPARATOR, counted, at)  # the NUL at `at` starts word `index`
                counted = at
            else:
                index = bisect_left(listed, at)
            found.append(index)
            at = joined.find(needle, at + len(word) + 1)
        return found or _NONE

    @cached_property
    def sorted_words(self) -> list[str]:
        """The distinct folded words, sorted: wildcards bisect it for their prefix."""
        return sorted(self.word_set)

    def written(self, index: int) -> str:
        """Word `index` as written, NFC-normalised (what `=NATO` compares with)."""
        return unicodedata.normalize("NFC", self.raw[index])

    @cached_property
    def _starts_ends(self) -> tuple[list[int], list[int]]:
        return word_starts_ends(self.text)

    @cached_property
    def spans(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))

    @cached_property
    def starts(self) -> list[int]:
        return self._starts_ends[0]

    @cached_property
    def ends(self) -> list[int]:
        return self._starts_ends[1]

    @cached_property
    def _plain(self) -> bytes | None:
        """The text as `folded_words` splits it, padded with a space each side, when it takes
        the ASCII byte path there: words are its runs of non-spaces, at their offsets in the
        text plus one; None for other text."""
        return plain_ascii_bytes(self.text)

    def _lazily(self) -> bool:
        """Whether to find one word's offsets on its own (`start_of`) rather than list every
        word's: a match's hits need two or three of a body's thousands, and listing them all
        cost a quarter of POST /api/v1/match. After OFFSET_BUDGET lookups (a rule with many
        hits) the lists are made once."""
        if "_starts_ends" in self.__dict__ or self._lookups >= OFFSET_BUDGET:
            return False
        self._lookups += 1
        return self._plain is not None

    def start_of(self, word: int) -> int:
        """Offset in `text` where word `word` (an index into `words`) starts."""
        if not self._lazily():
            return self.starts[word]
        return self._plain_start(word)

    def _plain_start(self, word: int) -> int:
        found = self._starts_found.get(word)
        if found is None:  # a hit asks for its start and its end: one search for both
            found = self._starts_found[word] = self._search_plain_start(word)
        return found

    def _search_plain_start(self, word: int) -> int:
        padded, folded = self._plain, self._word(word)
        assert padded is not None
        needle = f" {folded} ".encode("ascii")
        rank = bisect_left(self.positions(folded), word)  # its rank among its equals
        at = padded.find(needle)
        for _ in range(rank):
            at = padded.find(needle, at + len(needle) - 1)
        return at  # the space before it: one less than its padded offset

    def end_of(self, word: int) -> int:
        """Offset in `text` just after word `word`."""
        if not self._lazily():
            return self.ends[word]
        return self._plain_start(word) + len(self._word(word))  # ASCII: folding keeps length

    def _word(self, index: int) -> str:
        """Folded word `index`: one of the words searched for so far when it is one (a hit's
        words are), so that a few hits need no list of every word; else from that list."""
        if "words" not in self.__dict__:
            for word, places in self._positions.items():
                at = bisect_left(places, index)
                if at < len(places) and places[at] == index:
                    return word
        return self.words[index]

    @cached_property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(Token(w, s, e) for w, (s, e) in zip(self.words, self.spans, strict=True))

    @classmethod
    def build(cls, text: str) -> FieldIndex:
        return cls(text)

    def find(self, words: Sequence[str]) -> int | None:
        """Index of the first token where `words` occur consecutively, or None."""
        wanted = list(words)
        anchors = [self.positions(word) for word in wanted]
        offset = min(range(len(wanted)), key=lambda k: len(anchors[k]))
        for at in anchors[offset]:
            first = at - offset
            if first >= 0 and self.words[first : first + len(wanted)] == wanted:
                return first
        return None

    def first_token_from(self, offset: int) -> int | None:
        """Start offset of the first token starting at or after `offset`."""
        if self._lazily():
            padded = self._plain
            assert padded is not None
            found = _WORD_START.search(padded, max(offset, 0) + 1)
            return None if found is None else found.start() - 1
        index = bisect_left(self.starts, offset)
        return self.starts[index] if index < len(self.starts) else None

    def last_token_until(self, offset: int) -> int | None:
        """End offset of the last token ending at or before `offset`."""
        if self._lazily():
            padded = self._plain
            assert padded is not None
            at = min(offset + 1, len(padded) - 1)  # padded offset; the last is the pad space
            if padded[at] != SPACE:  # in a word or at its start: look before that word
                at = padded.rfind(b" ", 0, at)
            end = len(padded[:at].rstrip(b" "))
            return end - 1 if end else None
        index = bisect_right(self.ends, offset) - 1
        return self.ends[index] if index >= 0 else None


class Section(NamedTuple):
    field: str
    rank: int  # hits sort by it: title, body, author, feed, site, lang
    field_index: FieldIndex


@dataclass(frozen=True)
class Document:
    """An article as rules see it.

    HTML entities in the title are decoded here (`AT&amp;T` -> `AT&T`): feed titles are often
    escaped once too often, and a title is never legitimately about entity syntax. The body is
    taken as given; extraction has already decoded it. `site` is the article's host name (a URL
    is accepted and reduced to its host), `feed` the feed's name and tags, `lang` a language
    code such as "en" or "pt-BR".
    """

    title: str
    body: str
    site: str = ""
    feed: tuple[str, ...] = ()
    author: str = ""
    lang: str = ""
    _cache: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)
    # field -> its words: asked for by most candidate rules, so kept apart and typed (no assert)
    _words: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if "&" in self.title:
            object.__setattr__(self, "title", html.unescape(self.title))
        object.__setattr__(self, "site", _host(self.site))
        object.__setattr__(self, "lang", self.lang.strip().lower().replace("_", "-"))
        object.__setattr__(self, "feed", tuple(self.feed))

    def text(self, name: str) -> str:
        """The text of field `name` ("title" or "body")."""
        if name not in FIELDS:
            raise KeyError(f"unknown document field {name!r}; known: {', '.join(FIELDS)}")
        text: str = getattr(self, name)
        return text

    def index(self, name: str) -> FieldIndex:
        """Tokens of field `name` ("title" or "body"), built once for the document's life."""
        self.text(name)
        return self.sections()[FIELDS.index(name)].field_index

    def tokens(self, name: str) -> tuple[Token, ...]:
        """The folded word tokens of field `name`, with offsets into its original text."""
        return self.index(name).tokens

    def sections(self) -> tuple[Section, ...]:
        cached = self._cache.get("sections")
        if cached is None:
            texts = chain(
                [("title", self.title), ("body", self.body), ("author", self.author)],
                (("feed", name) for name in self.feed),
                [("site", self.site), ("lang", self.lang)],
            )
            cached = self._cache["sections"] = tuple(
                Section(name, rank, FieldIndex(text)) for rank, (name, text) in enumerate(texts)
            )
        assert isinstance(cached, tuple)
        return cached

    def scope(self, field: str) -> tuple[Section, ...]:
        """The sections a leaf with `field` ("" for title and body) looks in."""
        cached = self._cache.get("scope:" + field)
        if cached is None:
            names = FIELDS if field == "" else (field,)
            cached = self._cache["scope:" + field] = tuple(
                s for s in self.sections() if s.field in names
            )
        assert isinstance(cached, tuple)
        return cached

    def words_in(self, field: str) -> frozenset[str]:
        """Every folded word of the sections of `field`."""
        found = self._words.get(field)
        if found is None:
            sets = [section.field_index.word_set for section in self.scope(field)]
            found = self._words[field] = sets[0] if len(sets) == 1 else frozenset().union(*sets)
        return found


def _host(site: str) -> str:
    site = site.strip().lower()
    if "/" in site or ":" in site:
        site = urlsplit(site if "//" in site else "//" + site).hostname or ""
    return site.rstrip(".")
