"""Where each item of an XML feed sits in its bytes, and a digest of each, so that a changed feed
can be parsed without the items it already had.

A changed feed is mostly the items of the previous poll plus one or two new ones; feedparser's
time grows with the items it is given. Expat (C; only the start and end of elements reach
Python) finds the byte span of every item or entry, and each span is digested together with
what else can change its meaning: the feed's URL and content type, the XML declaration, the
doctype, the start tags of the root and the channel (the items' only ancestors) and every
namespace declaration outside the items.
Cutting whole elements out of well-formed XML leaves well-formed XML with the same header,
namespaces and bases, so feedparser reads the remaining items as it would in the full body.

Only plain cases are laid out; anything else (not well-formed, an internal DTD subset, an
encoding other than UTF-8 or ASCII, items outside the usual places) gets None
and is parsed whole, as before.
"""

from __future__ import annotations

import hashlib
import re
import xml.parsers.expat
from collections.abc import Collection
from dataclasses import dataclass

_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_RSS10 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ATOM10 = "http://www.w3.org/2005/Atom"
_ATOM03 = "http://purl.org/atom/ns#"

_ROOTS = {"rss", f"{_RDF} RDF", f"{_ATOM10} feed", f"{_ATOM03} feed"}
_CONTAINERS = {"channel", f"{_RSS10} channel", f"{_RSS090} channel"}
_ITEMS = {"item", f"{_RSS10} item", f"{_RSS090} item", f"{_ATOM10} entry", f"{_ATOM03} entry"}
_PLAIN_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
_QNAME = re.compile(rb"[^\s/>]+")
_DIGEST_BYTES = 8  # per feed, a few hundred digests at most: 64 bits never collide in practice


class _NotPlain(Exception):
    """Raised inside expat's callbacks: this body is parsed whole."""


@dataclass(frozen=True)
class ItemLayout:
    spans: list[tuple[int, int]]  # [start, end) of each item element, in document order
    digests: list[str]  # one per span


def item_layout(body: bytes, *, url: str, content_type: str | None) -> ItemLayout | None:
    """The items of `body` and their digests, or None when it is not a plain XML feed."""
    if not _plain_charset(content_type) or body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return None
    if b"\x00" in body[:4]:  # UTF-16/32 without a byte order mark
        return None
    scan = _Scan(body)
    try:
        scan.run()
    except (_NotPlain, xml.parsers.expat.ExpatError, ValueError, LookupError):
        return None
    if not scan.rooted:
        return None
    salt = "\n".join([url, content_type or "", *scan.context]).encode("utf-8", "replace")
    digests = [_digest(salt, body[start:end]) for start, end in scan.spans]
    return ItemLayout(scan.spans, digests)


def without_spans(body: bytes, spans: Collection[tuple[int, int]]) -> bytes:
    """`body` with the given (non-overlapping) spans cut out."""
    parts, position = [], 0
    for start, end in sorted(spans):
        parts.append(body[position:start])
        position = end
    parts.append(body[position:])
    return b"".join(parts)


def _digest(salt: bytes, item: bytes) -> str:
    hasher = hashlib.blake2b(salt, digest_size=_DIGEST_BYTES)
    hasher.update(b"\0")
    hasher.update(item)
    return hasher.hexdigest()


def _plain_charset(content_type: str | None) -> bool:
    """feedparser prefers the HTTP charset: only one that agrees with expat's UTF-8 is plain."""
    if not content_type:
        return True
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'").lower() in _PLAIN_ENCODINGS
    return True


class _Scan:
    """One expat pass: item spans, and the context their meaning depends on."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.spans: list[tuple[int, int]] = []
        self.context: list[str] = []
        self.rooted = False
        self._path: list[str] = []  # element names from the root down, outside items
        self._item_start = -1
        self._item_depth = 0  # elements open inside the current item, itself included
        self._item_end_tag = re.compile(b"</item>")
        self._prefixes: dict[str, str] = {}  # every prefix declared in the document: its URI
        parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.XmlDeclHandler = self._on_declaration
        parser.StartDoctypeDeclHandler = self._on_doctype
        parser.StartNamespaceDeclHandler = self._on_namespace
        parser.StartElementHandler = self._on_start
        parser.EndElementHandler = self._on_end
        self._parser = parser

    def run(self) -> None:
        self._parser.Parse(self.body, True)

    def _on_declaration(self, version: str, encoding: str | None, standalone: int) -> None:
        if encoding is not None and encoding.lower() not in _PLAIN_ENCODINGS:
            raise _NotPlain
        self.context.append(f"xml {version} {encoding} {standalone}")

    def _on_doctype(self, name: str, system_id: str | None, public_id: str | None,
                    has_internal_subset: int) -> None:  # fmt: skip
        if has_internal_subset:
            raise _NotPlain  # its entities could give the same item bytes another meaning
        self.context.append(f"doctype {name} {system_id} {public_id}")

    def _on_namespace(self, prefix: str | None, uri: str) -> None:
        if prefix is not None and self._prefixes.setdefault(prefix, uri) != uri:
            # feedparser keeps one prefix map for the whole document: an item's elements would
            # mean what the last item parsed before it bound their prefix to
            raise _NotPlain
        if not self._item_depth:  # a declaration inside an item is part of its bytes
            self.context.append(f"xmlns {prefix} {uri}")

    def _on_start(self, name: str, attributes: dict[str, str]) -> None:
        if self._item_depth:
            if name in _ITEMS:  # feedparser would start another entry inside this one
                raise _NotPlain
            self._item_depth += 1
            return
        depth = len(self._path)
        if depth == 0:
            if name not in _ROOTS:
                raise _NotPlain
            self.rooted = True
        if name in _ITEMS or name.rpartition(" ")[2] in ("item", "entry"):
            self._start_item(name, depth)
            return
        if depth == 0 or (depth == 1 and name in _CONTAINERS):  # the items' ancestors: their
            # attributes (xml:base, xml:lang, version) count; the header's other elements not
            self.context.append(f"<{name} {sorted(attributes.items())}")
        self._path.append(name)

    def _start_item(self, name: str, depth: int) -> None:
        in_place = name in _ITEMS and (depth == 1 or (depth == 2 and self._path[1] in _CONTAINERS))
        if not in_place:
            raise _NotPlain
        self._item_start = self._parser.CurrentByteIndex
        self._item_depth = 1
        qname = _QNAME.match(self.body, self._item_start + 1)
        if qname is None:
            raise _NotPlain
        self._item_end_tag = re.compile(b"</" + re.escape(qname.group()) + rb"[\s>]")

    def _on_end(self, name: str) -> None:
        if not self._item_depth:
            self._path.pop()
            return
        self._item_depth -= 1
        if self._item_depth:
            return
        position = self._parser.CurrentByteIndex
        if self._item_end_tag.match(self.body, position):  # no attributes: its ">" ends it
            position = self.body.index(b">", position) + 1
        # else <item/>: expat reports its end just past the tag (where the parent's may follow)
        self.spans.append((self._item_start, position))
