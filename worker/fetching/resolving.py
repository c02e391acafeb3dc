"""DNS for the fetcher: bounded by the fetch deadline, and remembered briefly.

`getaddrinfo` blocks with no timeout of its own, so a hung DNS server would hold a polling thread
far past the fetch deadline. Lookups therefore run in a small thread pool and the caller waits
only for the time it has left; the lookup thread is abandoned (it ends when the OS gives up).

Answers are kept `ttl_s` (60 s by default) per (host, port), so many connections to one site do
not each wait for DNS. Only the resolver's raw answer is kept: every use is checked again against
the address policy, and connections still go to exactly the checked addresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from worker.errors import FetchError, FetchTimeoutError
from worker.fetching.guard import AddressPolicy, IPAddress, Resolver, resolve_allowed

DEFAULT_TTL_S = 60.0
DEFAULT_LOOKUP_THREADS = 4
_MAX_ENTRIES = 4096  # past this, expired answers are dropped (and all of them if none expired)


def allow_any(_: IPAddress) -> bool:
    """The policy for trusted hops: the user configured that URL, private or not."""
    return True


class CachedResolver:
    """Thread-safe. `lookup(host, port, policy, timeout_s)` -> the allowed addresses."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        threads: int = DEFAULT_LOOKUP_THREADS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolve = resolve
        self._ttl_s = ttl_s
        self._clock = clock
        self._answers: dict[tuple[str, int], tuple[float, list[IPAddress]]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dns")

    def lookup(
        self, host: str, port: int, policy: AddressPolicy, timeout_s: float | None
    ) -> list[IPAddress]:
        """Addresses for `host`, all allowed by `policy` (BlockedAddressError otherwise);
        FetchTimeoutError when DNS takes longer than `timeout_s`."""
        return resolve_allowed(host, port, resolve=self._remembered(timeout_s), allowed=policy)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _remembered(self, timeout_s: float | None) -> Resolver:
        def resolve(host: str, port: int) -> list[IPAddress]:
            key = (host.lower(), port)
            now = self._clock()
            with self._lock:
                hit = self._answers.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
            addresses = self._bounded(host, port, timeout_s)
            self._remember(key, now + self._ttl_s, addresses)
            return addresses

        return resolve

    def _bounded(self, host: str, port: int, timeout_s: float | None) -> list[IPAddress]:
        try:
            future = self._pool.submit(self._resolve, host, port)
        except RuntimeError as exc:  # the pool was shut down: the fetcher is closing
            raise FetchError(f"could not resolve {host}: {exc}") from None
        try:
            return list(future.result(timeout=timeout_s))
        except FutureTimeout:
            future.cancel()
            raise FetchTimeoutError(f"resolving {host} took longer than {timeout_s:g}s") from None

    def _remember(self, key: tuple[str, int], until: float, addresses: list[IPAddress]) -> None:
        if not addresses:
            return
        with self._lock:
            if len(self._answers) >= _MAX_ENTRIES:
                now = self._clock()
                live = {k: v for k, v in self._answers.items() if v[0] > now}
                self._answers = live if len(live) < _MAX_ENTRIES else {}
            self._answers[key] = (until, addresses)
