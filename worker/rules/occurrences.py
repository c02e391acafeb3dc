"""Where leaves occur in a document, as token intervals: the primitives that both the reference
evaluator (`evaluate.py`, which also explains) and the compiled engine (`compiled.py`) use.

An interval is (first, last) token index, inclusive. Results are cached per section and leaf, so
evaluating a rule for its truth and again for its hits does the work once.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator

from worker.rules.ast import AtLeast, Leaf, Meta, Near, Phrase, Term, near_side
from worker.rules.document import FIELDS, Document, FieldIndex, Section
from worker.rules.leaves import lang_matches, site_matches, wildcard_regex

Interval = tuple[int, int]
TEXT_SECTIONS = ("title", "body", "author", "feed")


def in_scope(leaf: Leaf, section: Section) -> bool:
    return section.field == leaf.field if leaf.field else section.field in FIELDS


def occurrences(leaf: Leaf, index: FieldIndex) -> list[Interval]:
    """Every occurrence of `leaf` in one section, by ascending first token."""
    cache = index.occurrence_cache
    found = cache.get(leaf)
    if found is None:
        found = cache[leaf] = _find(leaf, index)
    return found


def _find(leaf: Leaf, index: FieldIndex) -> list[Interval]:
    if isinstance(leaf, Term):
        positions = _term_positions(leaf, index)
        return list(zip(positions, positions, strict=True))
    if leaf.slop is not None:
        return _sloppy(leaf, index, len(leaf.words) + leaf.slop)
    return _phrase(leaf, index)


def _term_positions(term: Term, index: FieldIndex) -> list[int]:
    found = _wildcard(term.word, index) if term.is_wildcard else index.positions(term.word)
    if term.exact:
        return [i for i in found if index.written(i) == term.exact]
    return found


def _wildcard(pattern: str, index: FieldIndex) -> list[int]:
    """Positions of the words matching `pattern`: only words sharing its literal prefix are
    tried, found by bisection in the section's sorted vocabulary."""
    prefix = re.split("[*?]", pattern, maxsplit=1)[0]
    vocabulary = index.sorted_words
    low = bisect_left(vocabulary, prefix)
    high = bisect_right(vocabulary, prefix + "\U0010ffff", low)
    regex = _regex(pattern)
    words = [word for word in vocabulary[low:high] if regex.fullmatch(word)]
    return sorted(position for word in words for position in index.positions(word))


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return wildcard_regex(pattern)


def _phrase(phrase: Phrase, index: FieldIndex) -> list[Interval]:
    """Anchored on the phrase's word with the fewest occurrences here, then compared in place."""
    size, wanted, words = len(phrase.words), list(phrase.words), index.words
    anchors = [index.positions(word) for word in wanted]
    offset = min(range(size), key=lambda k: len(anchors[k]))
    starts = (i - offset for i in anchors[offset] if i >= offset)
    found = [(i, i + size - 1) for i in starts if words[i : i + size] == wanted]
    if phrase.exact:
        written = list(phrase.exact)
        found = [(i, j) for i, j in found if list(map(index.written, range(i, j + 1))) == written]
    return found


def _sloppy(phrase: Phrase, index: FieldIndex, width: int) -> list[Interval]:
    """Windows of at most `width` words holding every word of the phrase (repeats counted),
    the shortest ending at each word; found by sliding a window over the words' positions."""
    need = Counter(phrase.words)
    events = sorted((i, word) for word in need for i in index.positions(word))
    have: Counter[str] = Counter()
    satisfied, left, windows = 0, 0, []
    for position, word in events:
        have[word] += 1
        satisfied += have[word] == need[word]
        while satisfied == len(need):
            first, first_word = events[left]
            if have[first_word] > need[first_word]:
                have[first_word] -= 1
                left += 1
                continue
            if position - first + 1 <= width:
                windows.append((first, position))
            break
    return windows


def wildcard_found(term: Term, doc: Document) -> bool:
    """Whether wildcard `term` (not case-sensitive) occurs: for a plain prefix (`theor*`) one
    bisection in each section's sorted words, without listing positions."""
    prefix = term.word[:-1]
    if term.word.endswith("*") and not any(char in prefix for char in "*?"):
        for section in doc.scope(term.field):
            vocabulary = section.field_index.sorted_words
            at = bisect_left(vocabulary, prefix)
            if at < len(vocabulary) and vocabulary[at].startswith(prefix):
                return True
        return False
    return leaf_found(term, doc)


def leaf_found(leaf: Leaf, doc: Document) -> bool:
    return any(occurrences(leaf, section.field_index) for section in doc.scope(leaf.field))


def meta_true(meta: Meta, doc: Document) -> bool:
    value = doc.site if meta.field == "site" else doc.lang
    test = site_matches if meta.field == "site" else lang_matches
    return bool(value) and test(meta.value, value)


def near_pairs(near: Near, doc: Document) -> Iterator[tuple[Section, Interval, Interval]]:
    """Per text section, the first (left, right) pair of occurrences close enough."""
    lefts, rights = near_side(near.left), near_side(near.right)
    for section in doc.sections():
        if section.field not in TEXT_SECTIONS:
            continue
        left = merged_occurrences(lefts, section)
        right = merged_occurrences(rights, section) if left else []
        pair = _close_pair(left, right, near.distance, near.ordered) if right else None
        if pair is not None:
            yield section, pair[0], pair[1]


def merged_occurrences(leaves: tuple[Leaf, ...], section: Section) -> list[Interval]:
    found = [occurrences(leaf, section.field_index) for leaf in leaves if in_scope(leaf, section)]
    return found[0] if len(found) == 1 else sorted(i for part in found for i in part)


# A plain run of words to look for near an anchor: its needle in `FieldIndex.joined` (the words
# NUL-joined, a NUL at each end), its length in words, and its field.
Run = tuple[str, int, str]


def near_in_windows(
    anchors: tuple[Leaf, ...],
    others: tuple[Run, ...],
    distance: int,
    before: bool,
    after: bool,
    doc: Document,
) -> bool:
    """Whether some occurrence of an `others` run lies within `distance` words before (if
    `before`) or after (if `after`) an occurrence of an `anchors` leaf, not overlapping it.

    The same truth as `near_pairs`, but only the anchor side's positions are listed (a rare
    word, chosen at compile time); the other side, often a common word with hundreds of
    occurrences, is looked for only in the few words around each anchor, by a C-level search
    of that slice of `joined` (a needle starts with a NUL, so it can only match at a word)."""
    for section, runs in _sections_with_runs(others, doc):
        found = merged_occurrences(anchors, section)
        if found and _run_near(section.field_index, found, runs, distance, before, after):
            return True
    return False


def near_runs_in_windows(
    anchors: tuple[Run, ...],
    others: tuple[Run, ...],
    distance: int,
    before: bool,
    after: bool,
    doc: Document,
) -> bool:
    """`near_in_windows` when the anchors are plain runs too: their occurrences are searched
    for one at a time and the search stops at the first close pair (a word rare in general
    can be the subject of the article, with dozens of occurrences)."""
    for section, runs in _sections_with_runs(others, doc):
        index = section.field_index
        for needle, size, field in anchors:
            if _run_in_scope(field, section) and _anchor_run_near(
                index, (needle, size), runs, distance, before, after
            ):
                return True
    return False


def near_runs_rarer_first(
    lefts: tuple[Run, ...],
    rights: tuple[Run, ...],
    distance: int,
    ordered: bool,
    doc: Document,
) -> bool:
    """`near_runs_in_windows` with both sides plain runs, anchored in each section on the side
    that occurs less there. Which side is rarer in general (the compile-time guess) says little
    about one article: a story about talks names "talks" forty times and NATO once. Counting
    is one C-level `str.count` per run, where each anchor occurrence costs a Python step."""
    for section in doc.sections():
        if section.field not in TEXT_SECTIONS:
            continue
        left = [(needle, size) for needle, size, field in lefts if _run_in_scope(field, section)]
        right = [(needle, size) for needle, size, field in rights if _run_in_scope(field, section)]
        if not left or not right:
            continue
        index = section.field_index
        if _count(index, left) <= _count(index, right):  # anchored on the left side
            anchors, others, before, after = left, right, not ordered, True
        else:
            anchors, others, before, after = right, left, True, not ordered
        for anchor in anchors:
            if _anchor_run_near(index, anchor, others, distance, before, after):
                return True
    return False


def _count(index: FieldIndex, runs: list[tuple[str, int]]) -> int:
    """About how often `runs` occur (`str.count` misses overlapping repeats: an estimate)."""
    joined = index.joined
    return sum(joined.count(needle) for needle, _ in runs)


def _sections_with_runs(
    others: tuple[Run, ...], doc: Document
) -> Iterator[tuple[Section, list[tuple[str, int]]]]:
    """The text sections, each with the `others` runs (needle, size) in its scope, if any."""
    for section in doc.sections():
        if section.field in TEXT_SECTIONS:
            runs = [
                (needle, size) for needle, size, field in others if _run_in_scope(field, section)
            ]
            if runs:
                yield section, runs


def _anchor_run_near(
    index: FieldIndex,
    anchor: tuple[str, int],
    runs: list[tuple[str, int]],
    distance: int,
    before: bool,
    after: bool,
) -> bool:
    (needle, size), joined, offsets = anchor, index.joined, index.offsets
    at = joined.find(needle)
    while at >= 0:
        first = bisect_left(offsets, at)
        if _run_near(index, [(first, first + size - 1)], runs, distance, before, after):
            return True
        at = joined.find(needle, at + 1)
    return False


def _run_in_scope(field: str, section: Section) -> bool:
    return section.field == field if field else section.field in FIELDS


def _run_near(
    index: FieldIndex,
    found: list[Interval],
    runs: list[tuple[str, int]],
    distance: int,
    before: bool,
    after: bool,
) -> bool:
    joined, offsets, count = index.joined, index.offsets, len(index.words)
    for first, last in found:
        for needle, size in runs:
            if after:  # the run starts at a word in [last + 1, last + 1 + distance]
                low, high = last + 1, min(last + 1 + distance, count - size)
                if (
                    low <= high
                    and joined.find(needle, offsets[low], offsets[high] + len(needle)) >= 0
                ):
                    return True
            if before:  # the run ends at a word in [first - 1 - distance, first - 1]
                low, high = max(0, first - distance - size), first - size
                if (
                    low <= high
                    and joined.find(needle, offsets[low], offsets[high] + len(needle)) >= 0
                ):
                    return True
    return False


def _close_pair(
    lefts: list[Interval], rights: list[Interval], distance: int, ordered: bool
) -> tuple[Interval, Interval] | None:
    starts = [first for first, _ in rights]
    longest = max(last - first for first, last in rights)
    for left in lefts:
        after = bisect_left(starts, left[1] + 1)  # the nearest right occurrence after `left`
        if after < len(rights) and starts[after] - left[1] - 1 <= distance:
            return left, rights[after]
        if ordered:
            continue
        before = bisect_left(starts, left[0]) - 1
        while before >= 0 and left[0] - starts[before] - longest - 1 <= distance:
            gap = left[0] - rights[before][1] - 1
            if 0 <= gap <= distance:
                return left, rights[before]
            before -= 1
    return None


def atleast_occurrences(node: AtLeast, doc: Document) -> Iterator[tuple[Section, Interval]]:
    for leaf in node.children:
        for section in doc.scope(leaf.field):
            for interval in occurrences(leaf, section.field_index):
                yield section, interval


def atleast_true(node: AtLeast, doc: Document) -> bool:
    total = 0
    for leaf in node.children:
        for section in doc.scope(leaf.field):
            total += len(occurrences(leaf, section.field_index))
            if total >= node.count:
                return True
    return False
