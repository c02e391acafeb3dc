"""Bytes of an HTML page to text, honouring the charset the page (or its server) declares.

Precedence follows the HTML standard's encoding sniffing: a byte-order mark, then the transport's
charset (the HTTP Content-Type), then a `<meta charset>` / `http-equiv` declaration near the top,
then UTF-8, and only then statistical detection (trafilatura's, backed by charset_normalizer).
"""

from __future__ import annotations

import codecs
import re

from trafilatura.utils import decode_file

# The HTML standard's prescan looks at the first 1024 bytes; real pages sometimes put a long
# comment or script before the meta tag, so look a little further.
_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers read these labels as windows-1252 (WHATWG Encoding), and so do the pages written for
# them: a "latin-1" page with curly quotes in 0x80-0x9F means cp1252's quotes, not C1 controls.
_WHATWG_ALIASES = {"iso8859-1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252"}


def decode_html(data: bytes, transport_charset: str | None = None) -> str:
    """Decode page bytes to text; never raises (undecodable bytes become U+FFFD at worst)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    for label in (transport_charset, sniff_meta_charset(data), "utf-8"):
        text = _try_decode(data, label)
        if text is not None:
            return text
    return decode_file(data)


def sniff_meta_charset(data: bytes) -> str | None:
    """The charset a `<meta>` tag near the top of the page declares, if any."""
    match = _META_CHARSET.search(data[:_PRESCAN_BYTES])
    return match.group(1).decode("ascii") if match else None


def _try_decode(data: bytes, label: str | None) -> str | None:
    encoding = _python_codec(label) if label else None
    if encoding is None:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:  # a wrong declaration: let the next source try
        return None


def _python_codec(label: str) -> str | None:
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    if name.startswith("utf-16"):  # a meta tag cannot truthfully declare UTF-16 (HTML spec)
        return "utf-8"
    return _WHATWG_ALIASES.get(name, name)
