"""Content-Encoding decoders that never inflate more than a small piece at a time.

httpx's own decoders inflate each network chunk whole: one 64 KiB chunk of a gzip bomb becomes
~64 MB before anyone can count it. These yield pieces of about PIECE_BYTES (zlib exactly, brotli
treats the limit as a soft one), so the caller's size cap stops a bomb a piece past the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

import brotli

PIECE_BYTES = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate, br"

Decoder = Callable[[Iterator[bytes]], Iterator[bytes]]


class BodyDecodeError(ValueError):
    """The body is not valid for its Content-Encoding."""


def decode_stream(chunks: Iterable[bytes], content_encoding: str) -> Iterator[bytes]:
    """Undo every coding in `content_encoding` (last applied is first undone)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    stream: Iterator[bytes] = iter(chunks)
    for coding in reversed(codings):
        # Unknown codings pass through, as browsers and httpx do: servers send junk such as
        # "Content-Encoding: utf-8" on plain bodies.
        stream = _DECODERS.get(coding, _identity)(stream)
    return stream


def _identity(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield from chunks


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    return _inflate(chunks, 16 + zlib.MAX_WBITS, "gzip")


def _deflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
    first = next(chunks, b"")
    # "deflate" is meant to be zlib-wrapped, but some servers send a raw deflate stream.
    wbits = zlib.MAX_WBITS if _has_zlib_header(first) else -zlib.MAX_WBITS
    return _inflate(_prepend(first, chunks), wbits, "deflate")


def _has_zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _inflate(chunks: Iterator[bytes], wbits: int, name: str) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    try:
        for chunk in chunks:
            yield from _drain(inflater, chunk)
        yield inflater.flush()
    except zlib.error as exc:
        raise BodyDecodeError(f"invalid {name} body: {exc}") from None


def _drain(inflater: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """Inflate `data` in pieces of at most PIECE_BYTES, including output zlib still holds."""
    while True:
        piece = inflater.decompress(data, PIECE_BYTES)
        data = inflater.unconsumed_tail
        if piece:
            yield piece
        if not data and len(piece) < PIECE_BYTES:
            return


def _unbrotli(chunks: Iterator[bytes]) -> Iterator[bytes]:
    decompressor = brotli.Decompressor()
    try:
        for chunk in chunks:
            piece = decompressor.process(chunk, output_buffer_limit=PIECE_BYTES)
            yield piece
            # Output may still be pending (can_accept_more_data() says True regardless): drain
            # with empty input until it asks for more.
            while piece and not decompressor.is_finished():
                piece = decompressor.process(b"", output_buffer_limit=PIECE_BYTES)
                yield piece
    except brotli.error as exc:
        raise BodyDecodeError(f"invalid br body: {exc}") from None


_DECODERS: dict[str, Decoder] = {
    "identity": _identity,
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _deflate,
    "br": _unbrotli,
}
