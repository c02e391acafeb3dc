"""Which hub a feed names, and for which topic: HTTP `Link:` headers first, then the feed's own
links (Atom `<link rel="hub">`, RSS `<atom:link rel="hub">`, JSON Feed `hubs`), as the WebSub
spec orders them. The hub URL is untrusted feed content: it is only recorded here, and every
request to it goes through the SSRF guard (hubclient.py).

`HubRecorder.record` is the poller's `on_parsed` hook: it writes to Redis only when a feed's hub,
topic or base URL differs from what this process last recorded (or that was over an hour ago:
Redis may have lost it), so a poll usually costs nothing more. The base URL is where a
redirected feed's body came from: the poll parsed it against that URL (a GUID such as "post-7"
is joined to it), so a push is parsed against it too, or the same entry would get another
identity and be queued twice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from worker.feeds.model import FeedLike, feed_name
from worker.feeds.parse import ParsedFeed
from worker.websub.store import WebSubStore

_LINK_VALUE = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_REL_PARAM = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""", re.I)
_MAX_URL_LENGTH = 2048

Hub = tuple[str, str]  # (hub URL, topic URL); ("", "") when the feed names no hub
Found = tuple[str, str, str]  # hub, topic, base URL ("" when the feed URL itself)
_TRUSTED_FOR_S = 3600.0  # then Redis is asked again (it may have lost the record meanwhile)


def header_links(value: str) -> list[tuple[str, str]]:
    """(rel, href) pairs of an HTTP Link header (RFC 8288; each rel value on its own)."""
    pairs: list[tuple[str, str]] = []
    for match in _LINK_VALUE.finditer(value or ""):
        href, params = match.group(1).strip(), match.group(2)
        for rel in _REL_PARAM.findall(params):
            pairs += [(name.lower(), href) for name in (rel[0] or rel[1]).split()]
    return pairs


def discover(
    feed_url: str,
    headers: Mapping[str, str],
    links: Iterable[tuple[str, str]],
    base: str = "",
) -> Hub:
    """The hub and topic for `feed_url`: from the Link header when it names a hub, else from
    the feed's links; the topic is the self link, else the feed URL. Relative URLs are joined
    to `base` (where the body came from; the feed URL by default); a hub that is not http(s)
    is ignored."""
    base = base or feed_url
    for source in (header_links(headers.get("link", "")), list(links)):
        hub = _first(source, "hub", base)
        if hub:
            return hub, _first(source, "self", base) or feed_url
    return "", ""


def _first(pairs: Iterable[tuple[str, str]], rel: str, base: str) -> str:
    for name, href in pairs:
        if name == rel and href.strip():
            url = urljoin(base, href.strip())
            if urlsplit(url).scheme in ("http", "https") and _plain(url):
                return url
    return ""


def _plain(url: str) -> bool:
    """Short, and nothing a terminal would act on: the URL reaches logs and `wirewatch feeds`
    as it is (a JSON Feed string may hold any character; spaces make no valid URL either)."""
    return len(url) <= _MAX_URL_LENGTH and url.isprintable() and " " not in url


class HubRecorder:
    """Records what discovery finds; never raises into the poll."""

    def __init__(self, store: WebSubStore, log: Any, clock: Callable[[], float]) -> None:
        self.store = store
        self.log = log
        self.clock = clock
        # feed URL -> what this process last recorded (or found unrecorded), and until when
        # that is trusted without asking Redis
        self._known: dict[str, tuple[Found, float]] = {}
        self._lock = threading.Lock()

    def record(
        self, feed: FeedLike, url: str, headers: Mapping[str, str], parsed: ParsedFeed
    ) -> None:
        """`url`: where the body came from (after redirects), which it was parsed against."""
        try:
            hub, topic = discover(feed.url, headers, parsed.links, base=url)
            found = (hub, topic, url if hub and url != feed.url else "")
            now = self.clock()
            with self._lock:
                known, until = self._known.get(feed.url) or (None, 0.0)
            if now >= until:
                known = None
            if found == known or (known is None and not hub and not self._had_hub(feed, now)):
                return
            if self.store.record_hub(feed.url, *found, now):
                self._log_change(feed, found)
            self._remember(feed, found, now)
        except Exception as exc:  # discovery is an extra: the poll must go on regardless
            self.log.warning("websub_discovery_failed", feed=feed_name(feed), error=str(exc))

    def _had_hub(self, feed: FeedLike, now: float) -> bool:
        """Asked once an hour at most per feed, for feeds naming no hub: did it name one?"""
        had = self.store.has_record(feed.url)
        if not had:
            self._remember(feed, ("", "", ""), now)
        return had

    def _remember(self, feed: FeedLike, found: Found, now: float) -> None:
        with self._lock:
            self._known[feed.url] = (found, now + _TRUSTED_FOR_S)

    def _log_change(self, feed: FeedLike, found: Found) -> None:
        if found[0]:
            self.log.info("websub_hub_found", feed=feed_name(feed), hub=found[0], topic=found[1])
        else:
            self.log.info("websub_hub_gone", feed=feed_name(feed))
