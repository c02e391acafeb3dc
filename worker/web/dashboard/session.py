"""Dashboard sign-ins: an opaque session cookie naming a Redis record, and CSRF tokens.

The cookie holds 32 random bytes; Redis holds the record under the SHA-256 of that value (a copy
of Redis is no key to a session), with the token's id and scope and the session's CSRF token,
and expires with the session. The cookie is HttpOnly and SameSite=Strict (Secure when the
request came over https). Every state-changing request must echo the CSRF token, as a form
field or the `X-CSRF-Token` header. The sign-in form itself is guarded by a double-submit
cookie, so another site cannot sign a browser in under its own token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from worker.queue.connection import Client
from worker.queue.keys import Keys
from worker.web.auth import SCOPE_RANK

COOKIE = "wirewatch_session"
SIGNIN_COOKIE = "wirewatch_signin"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600
_RANDOM_BYTES = 32


@dataclass(frozen=True)
class Session:
    token_id: str
    scope: str
    csrf: str
    fingerprint: str = ""  # Authenticator.fingerprint of the token at sign-in

    def allows(self, needed: str) -> bool:
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[needed]


class SignInNeeded(Exception):
    """No valid session: pages redirect to the sign-in form, scripts get 401."""

    def __init__(self, wants_html: bool) -> None:
        super().__init__("sign-in needed")
        self.wants_html = wants_html


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class SessionStore:
    def __init__(self, client: Client, keys: Keys, ttl_s: int = SESSION_TTL_S) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s

    def create(self, token_id: str, scope: str, fingerprint: str) -> tuple[str, Session]:
        """A new session: (the cookie's value, the session)."""
        cookie = secrets.token_urlsafe(_RANDOM_BYTES)
        session = Session(token_id, scope, secrets.token_urlsafe(_RANDOM_BYTES), fingerprint)
        key = self.keys.web_session(_digest(cookie))
        record: Any = {
            "token_id": token_id,
            "scope": scope,
            "csrf": session.csrf,
            "fingerprint": fingerprint,
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=record)
        pipe.expire(key, self.ttl_s)
        pipe.execute()
        return cookie, session

    def find(self, cookie: str | None) -> Session | None:
        if not cookie or len(cookie) > 100:
            return None
        record: Any = self.client.hgetall(self.keys.web_session(_digest(cookie)))
        if not record or record.get("scope") not in SCOPE_RANK:
            return None
        return Session(
            record["token_id"], record["scope"], record["csrf"], record.get("fingerprint", "")
        )

    def end(self, cookie: str | None) -> None:
        if cookie and len(cookie) <= 100:
            self.client.delete(self.keys.web_session(_digest(cookie)))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, ttl_s: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=ttl_s,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path="/ui", httponly=True, samesite="strict", secure=is_https(request)
    )


def check_csrf(session: Session, request: Request, form: dict[str, str] | None) -> None:
    given = request.headers.get(CSRF_HEADER) or (form or {}).get("csrf")
    if not same(given, session.csrf):
        raise CsrfRefused
