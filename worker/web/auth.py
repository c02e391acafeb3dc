"""Bearer tokens with scopes, compared in constant time; failed attempts limited per address.

Tokens come from `web.tokens`. Each presented token is hashed and compared with every
configured token's hash by `hmac.compare_digest`, all of them every time, so neither the
comparison nor the loop tells how much of a guess was right. A client address that fails
`auth_failures_per_minute` times gets 429 until its oldest failure is a minute old, whatever
it sends. No token, presented or configured, is ever logged or answered back.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from worker.config.models import WebTokenConfig
from worker.web.errors import ApiError

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}
WINDOW_S = 60.0
_MAX_TRACKED_CLIENTS = 10_000  # failures are remembered for this many addresses at most
ANONYMOUS = "anonymous"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _known(tokens: Sequence[WebTokenConfig]) -> tuple[tuple[str, bytes, str], ...]:
    """(id, digest, scope) of each configured token; the secrets themselves are not kept."""
    return tuple((t.id, _digest(t.token.get_secret_value()), t.scope) for t in tokens)


class FailureLimiter:
    """Failed attempts per client address in the last minute, bounded in memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it may now."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return None
            while times and now - times[0] >= WINDOW_S:
                times.popleft()
            if len(times) < self.per_minute:
                return None
            return WINDOW_S - (now - times[0])

    def fail(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            if client not in self._failures and len(self._failures) >= _MAX_TRACKED_CLIENTS:
                self._forget_quiet(now)
            self._failures.setdefault(client, deque(maxlen=self.per_minute)).append(now)

    def _forget_quiet(self, now: float) -> None:
        quiet = [c for c, t in self._failures.items() if not t or now - t[-1] >= WINDOW_S]
        for client in quiet or list(self._failures)[: _MAX_TRACKED_CLIENTS // 10]:
            del self._failures[client]


class Authenticator:
    def __init__(self, tokens: Sequence[WebTokenConfig], per_minute: int, log: Any) -> None:
        self._tokens = _known(tokens)
        self.limiter = FailureLimiter(per_minute)
        self.log = log

    def replace_tokens(self, tokens: Sequence[WebTokenConfig]) -> None:
        """Put edited `web.tokens` into force: a removed or changed token fails from the next
        request on. One assignment of an immutable tuple, so a request served meanwhile on the
        event loop sees either the old tokens or the new ones, never a mix."""
        self._tokens = _known(tokens)

    @property
    def open(self) -> bool:
        """No token configured: every call is allowed (the role then listens on loopback only)."""
        return not self._tokens

    def check(self, presented: str | None, client: str, needed: str) -> str:
        """The id of the token allowing a call that needs scope `needed`; ApiError otherwise."""
        token_id, scope = self.identify(presented, client)
        if SCOPE_RANK[scope] < SCOPE_RANK[needed]:
            detail = f"token {token_id!r} has scope {scope}; {needed} needed"
            raise ApiError(403, "forbidden", detail)
        return token_id

    def identify(self, presented: str | None, client: str) -> tuple[str, str]:
        """(token id, scope) of a presented token; ApiError 401 or 429 otherwise. With no
        token configured everyone is the anonymous admin (the role is on loopback then)."""
        if self.open:
            return ANONYMOUS, "admin"
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise ApiError(
                429,
                "too_many_failures",
                "too many failed authentications from this address; try again later",
                {"Retry-After": str(max(1, round(wait)))},
            )
        found = self._match(presented) if presented else None
        if found is None:
            self.limiter.fail(client)
            self.log.warning("web_auth_failed", client=client, token_given=bool(presented))
            reason = "invalid token" if presented else "missing bearer token"
            raise ApiError(401, "unauthorized", reason, {"WWW-Authenticate": "Bearer"})
        return found

    def admits(self, presented: str | None, client: str, needed: str) -> bool:
        """Whether `check` would let this call through, without counting a failure: the fast
        lane (worker/web/fastlane.py) asks first and leaves every refusal to `check`, so a
        refused call is still counted once and answered in one place."""
        if self.open:
            return True
        if not presented or self.limiter.retry_after(client) is not None:
            return False
        found = self._match(presented)
        return found is not None and SCOPE_RANK[found[1]] >= SCOPE_RANK[needed]

    def fingerprint(self, token_id: str) -> str | None:
        """A value that changes when the token under `token_id` (or its scope) does, and is no
        use to a reader: a dashboard session stores it and ends when it no longer matches, so
        removing or rotating a token in the config signs its sessions out."""
        tokens = self._tokens  # one snapshot: a reload may swap the tuple meanwhile
        if not tokens:
            return "open"
        for known_id, digest, scope in tokens:
            if known_id == token_id:
                return hashlib.sha256(b"session\0" + digest + scope.encode()).hexdigest()[:32]
        return None

    def _match(self, presented: str) -> tuple[str, str] | None:
        digest = _digest(presented)
        found = None
        for (
            token_id,
            expected,
            scope,
        ) in (
            self._tokens
        ):  # the tuple in force when the loop began  # no early exit: same work for any guess
            if hmac.compare_digest(expected, digest):
                found = (token_id, scope)
        return found
