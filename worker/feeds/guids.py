"""Entry identities from the GUID text alone, and the identities the rule before it gave.

The rule: an id (RSS `<guid>`, Atom `<id>`) is the entry's identity as feedparser reads it given
the feed's URL as the document's location. So a permalink GUID (a URL, `isPermaLink` absent or
"true") that is relative is resolved like any link, against `xml:base` or the feed's URL; an
`isPermaLink="false"` GUID or an Atom id is taken as written, never joined to anything.

feedparser given a base re-joins it at every element (a third more parse time), so a body
without `xml:base` and without a relative-looking id is parsed without one: its absolute ids
are joined to the feed's URL afterwards, which is what feedparser would have made of them.

Before this rule, a body without the bytes `xml:base` anywhere had every relative id joined to
the feed's URL (`isPermaLink="false"` ones included), and one with them had only permalink ids
resolved: an item could change identity between polls when `xml:base` came or went in another
item's text. `former_guid` gives what that rule made an identity from, so that an entry already
seen under it is not queued again after an upgrade (ParsedEntry.former_id; the poller looks both
up in the seen-entry index: worker/polling/newitems.py).
"""

from __future__ import annotations

import hashlib
import re

from feedparser.urls import _urljoin as feedparser_urljoin

# An id element (any prefix) whose text, after blanks and an optional CDATA opening, does not
# start with a URI scheme: it is relative, and how it resolves depends on isPermaLink and bases.
_RELATIVE_ID = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:guid|id)(?:\s[^>]*)?>\s*(?:<!\[CDATA\[\s*)?"
    rb"(?![A-Za-z][A-Za-z0-9+.\-]*:)[^<\s]"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Longer ids and links are hashed: an identity is a key, and a hostile feed could make it huge.
MAX_IDENTITY_CHARS = 2048


def needs_base(body: bytes) -> bool:
    """Whether feedparser must be given the feed's URL as base: the body has `xml:base` (which
    feedparser applies only correctly with a document base) or an id that may be relative."""
    return b"xml:base" in body or _RELATIVE_ID.search(body) is not None


def identity_guid(feedparser_id: str, feed_url: str) -> str:
    """The GUID an identity is made from: feedparser's id (parsed with the feed's URL as base,
    or without a base when `needs_base` said no relative id is there); absolute ones joined to
    the feed's URL, which only tidies their spelling as feedparser does for links."""
    text = feedparser_id.strip()
    if text and _SCHEME.match(text):
        return str(feedparser_urljoin(feed_url, text))
    return text


def capped(identity: str) -> str:
    """`identity`, or a hash of it when it is longer than any real id or link."""
    if len(identity) <= MAX_IDENTITY_CHARS:
        return identity
    return "sha256:" + hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()


def former_guid(feedparser_id: str, feed_url: str) -> str:
    """The GUID the rule before this one made an identity from when the body had no `xml:base`
    bytes: every id joined to the feed's URL. (With them it was feedparser's id, which is the
    identity now; an entry polled under both is recognised under either.)"""
    if not feedparser_id:
        return feedparser_id
    return str(feedparser_urljoin(feed_url, feedparser_id))
