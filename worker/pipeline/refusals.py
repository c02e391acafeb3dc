"""Article links the fetch guard refused, said once per host as a warning with what to do.

A feed whose links point at a private or loopback address (a site on the home network, a
staging server) otherwise looks like it works: each item quietly falls back to the feed's own
text. One warning per host, per process, names the host and how to allow it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from worker.errors import BlockedAddressError

HINT = (
    "article links are fetched only over http(s) from public addresses; if this host is on a"
    " network you trust, and so are the feeds that link to it, set"
    " fetch.allow_private_addresses: true (meanwhile its items use the feed's own text)"
)
_HOSTS_REMEMBERED = 10_000  # a bound on memory; a host forgotten is warned about once more


class RefusedHosts:
    """Warns the first time a host's article link is refused (per process)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self._warned: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, url: str, error: BlockedAddressError) -> None:
        host = (urlsplit(url).hostname or url).lower()
        if not self._first_time(host):
            return
        self.log.warning("article_fetch_refused", host=host, url=url, error=str(error), hint=HINT)

    def _first_time(self, host: str) -> bool:
        with self._lock:
            if host in self._warned:
                return False
            self._warned[host] = None
            if len(self._warned) > _HOSTS_REMEMBERED:
                self._warned.popitem(last=False)
            return True
