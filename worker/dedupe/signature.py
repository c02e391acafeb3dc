"""Story signatures: 128 MinHash values per text, for finding candidate stories and confirming one.

A story is confirmed against one representative signature (its first article's), never through
votes pooled over its members, so a story cannot grow by a chain of members that each resemble
only the previous one (docs/stories.md defines what one story is).

- 128 values, one-permutation over the same 4-word shingles as `fingerprint.py` (one hash per
  shingle: the low 7 bits pick the bin). Empty bins (texts under ~600 words leave some) are
  filled by rotation densification (Shrivastava & Li 2014): an empty bin takes the next
  non-empty bin to its right plus its distance, so two texts still agree on a bin with
  probability ~ their Jaccard similarity. 128 bins: standard error 0.04 at a similarity of 0.25,
  enough to tell a quoted passage (~0.2) from a copy cut to half (0.5).
- Representative: 126 values, each reduced to 8 bits (b-bit MinHash; unrelated values collide 1 time
  in 256, which `estimate` corrects for) plus the shingle count, 128 bytes kept once per story.
- Bands: pairs of values (24 bands of 2) hashed to index entries. Two texts with similarity 0.5
  share a band with probability 0.999, at 0.4 0.985, at 0.2 still 0.62: bands only propose
  candidates, which the representative then confirms or rejects. An entry is 2 bytes in one of
  `index_buckets` hashes (31 bits in all): a band of another story found by chance now and then
  costs one more confirmation, never a wrong story.
- Containment (how much of the smaller text the larger holds) is estimated from the similarity and
  both shingle counts: a copy cut to half has similarity 0.5 but containment 1, a different
  article quoting 40% of another has 0.25 and 0.4.

The previous design's 16-bin fingerprint is derived from the same pass (`legacy`), so a running
install's index keeps answering while it expires (worker/dedupe/stories.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from worker.dedupe.fingerprint import BINS as LEGACY_BINS
from worker.dedupe.fingerprint import MIN_WORDS, Fingerprint, shingle_hashes, words

VALUES = 128
# Kept per story: the first 126 values, so with the 2-byte count a representative is 128 bytes,
# stored as two 64-byte halves (the longest value Redis keeps in a compact listpack by default).
REPRESENTATIVE_VALUES = 126
BAND_ROWS = 2
BANDS = 24
_VALUE_BITS = 7  # log2(VALUES)
_LEGACY_GROUPS = VALUES // LEGACY_BINS  # new bins per legacy bin (bin number's bits 4..6)
_DISTANCE_SHIFT = 64 - _VALUE_BITS  # densified values carry the borrowing distance above this
_MASK64 = (1 << 64) - 1
_COUNT_BYTES = 2
_MAX_COUNT = (1 << (8 * _COUNT_BYTES)) - 1
_COLLISION = 1 / 256  # chance two different minima agree on their 8 bits


@dataclass(frozen=True)
class Signature:
    """A text's densified MinHash values (none for a text too short), its distinct shingle count,
    and the 16-bin fingerprint the previous design indexed."""

    values: tuple[int, ...]
    shingles: int
    legacy: Fingerprint

    @property
    def empty(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class Similarity:
    jaccard: float  # estimated Jaccard similarity of the two shingle sets
    containment: float  # estimated share of the smaller set held by the larger


def _mix(value: int) -> int:
    """splitmix64's finaliser: spreads a minimum's bits before they are cut to 8 or hashed."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _minima(hashes: list[int]) -> dict[int, int]:
    mins: dict[int, int] = {}
    for h in hashes:
        b, v = h & (VALUES - 1), h >> _VALUE_BITS
        if v < mins.get(b, _MASK64):
            mins[b] = v
    return mins


def _densified(mins: dict[int, int]) -> tuple[int, ...]:
    """Every empty bin borrows the next non-empty bin to its right (wrapping), tagged with the
    distance so a borrowed value never equals the lender's own. One right-to-left walk over the
    bins twice: the first lap only finds the lender of the rightmost empty bins."""
    if not mins:
        return ()
    out = [0] * VALUES
    nearest, distance = 0, 0
    for b in range(2 * VALUES - 1, -1, -1):
        value = mins.get(b % VALUES)
        if value is None:
            distance += 1
        else:
            nearest, distance = value, 0
        if b < VALUES:
            out[b] = nearest | distance << _DISTANCE_SHIFT
    return tuple(out)


def _legacy(mins: dict[int, int]) -> Fingerprint:
    """The 16-bin fingerprint of `fingerprint.fingerprint`: legacy bin b holds the minimum of
    `hash >> 4` over hashes whose low 4 bits are b, i.e. over new bins b + 16k (k = bits 4..6)."""
    legacy: dict[int, int] = {}
    for b, v in mins.items():
        old_bin, group = b % LEGACY_BINS, b // LEGACY_BINS
        old_value = v << 3 | group
        if old_value < legacy.get(old_bin, _MASK64):
            legacy[old_bin] = old_value
    return Fingerprint(legacy)


def text_signature(text: str) -> Signature:
    """The signature of `text`; empty when it has fewer than MIN_WORDS words."""
    tokens = words(text)
    if len(tokens) < MIN_WORDS:
        return Signature((), 0, Fingerprint({}))
    hashes = shingle_hashes(tokens)
    mins = _minima(hashes)
    return Signature(_densified(mins), len(set(hashes)), _legacy(mins))


def article_signature(text: str, title: str) -> Signature:
    """As `fingerprint.article_fingerprint`: a short text (a teaser) borrows its title."""
    if len(words(text)) >= MIN_WORDS:
        return text_signature(text)
    return text_signature(f"{title}\n{text}")


def representative(sig: Signature) -> bytes:
    """Shingle count (2 bytes, big-endian, capped) then one byte per kept value; b'' when empty."""
    if sig.empty:
        return b""
    count = min(sig.shingles, _MAX_COUNT).to_bytes(_COUNT_BYTES, "big")
    return count + bytes(_mix(v) & 0xFF for v in sig.values[:REPRESENTATIVE_VALUES])


def estimate(a: bytes, b: bytes) -> Similarity:
    """Similarity of two representatives (the assign script computes the same in Lua)."""
    if not a or len(a) != len(b):
        return Similarity(0.0, 0.0)
    agree = sum(1 for x, y in zip(a[_COUNT_BYTES:], b[_COUNT_BYTES:], strict=True) if x == y)
    share = agree / (len(a) - _COUNT_BYTES)
    jaccard = max(0.0, (share - _COLLISION) / (1 - _COLLISION))
    na, nb = int.from_bytes(a[:_COUNT_BYTES], "big"), int.from_bytes(b[:_COUNT_BYTES], "big")
    containment = min(1.0, jaccard * (na + nb) / ((1 + jaccard) * max(1, min(na, nb))))
    return Similarity(jaccard, containment)


def band_entries(sig: Signature, buckets: int) -> list[tuple[int, bytes]]:
    """(bucket, 2-byte field) per band: equal for two texts that agree on the band's values."""
    entries = []
    for band in range(BANDS):
        rows = sig.values[band * BAND_ROWS : (band + 1) * BAND_ROWS]
        if len(rows) < BAND_ROWS:
            break
        data = band.to_bytes(1, "big") + b"".join(v.to_bytes(9, "big") for v in rows)
        digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
        entries.append(((digest >> 16) % buckets, (digest & 0xFFFF).to_bytes(2, "little")))
    return entries
