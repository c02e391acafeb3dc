"""Subscription requests to hubs: a form POST through the fetcher's SSRF-guarded transport.

The hub URL comes from feed content, so it is untrusted: http(s) only, every address the host
resolves to must be public (unless `fetch.allow_private_addresses`), the connection is pinned to
the checked addresses, the whole request has a deadline and only a small part of the reply is
read. Redirects are not followed (a POST would have to be re-sent to a new, unchecked place):
a hub that redirects has failed. Foreign errors become worker.errors.FetchError.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urlencode

import httpx

from worker.errors import BlockedAddressError, FetchError, FetchTimeoutError
from worker.fetching.guard import AddressPolicy, Resolver, check_scheme, is_public_address
from worker.fetching.guard import system_resolver as default_resolver
from worker.fetching.resolving import CachedResolver
from worker.fetching.transport import build_transport, deadline

_REPLY_BYTES = 4096  # of a hub's answer, kept for the error message only
_SHOWN_CHARS = 200
_SPACES = re.compile(r"\s+")
_HIDDEN = "[hidden]"
_MIN_PARTIAL = 4  # the shortest cut-off start of a hidden value also hidden at the reply's end


@dataclass(frozen=True)
class HubReply:
    status: int
    text: str  # the start of the body, printable, for logs

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class HubClient:
    """Thread-safe; one pooled transport for every hub."""

    def __init__(
        self,
        *,
        timeout_s: float,
        allow_private_addresses: bool,
        user_agent: str,
        resolve: Resolver = default_resolver,
        address_allowed: AddressPolicy = is_public_address,
    ) -> None:
        self._timeout_s = timeout_s
        self._dns = CachedResolver(resolve)
        self._transport = build_transport(
            dns=self._dns,
            allowed=address_allowed,
            guard_untrusted=not allow_private_addresses,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=4),
        )
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        self._user_agent = user_agent

    def post(self, hub_url: str, form: Mapping[str, str], hidden: Iterable[str] = ()) -> HubReply:
        """POST `form` to `hub_url`; FetchError when the request could not be made at all.
        The `hidden` values (the secret, the callback's token) are blanked out of the reply's
        text: an error page may quote the request, and that text is logged and shown."""
        check_scheme(hub_url)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": self._user_agent,
            "Accept": "*/*",
        }
        body = urlencode(dict(form)).encode("ascii")
        try:
            request = httpx.Request(
                "POST",
                hub_url,
                headers=headers,
                content=body,
                extensions={"timeout": self._timeout},
            )
            with deadline(self._timeout_s):
                response = self._transport.handle_request(request)
                try:
                    return HubReply(response.status_code, _start_of(response, hidden))
                finally:
                    response.close()
        except BlockedAddressError as exc:
            raise BlockedAddressError(f"{hub_url}: {exc}") from None
        except FetchTimeoutError as exc:
            raise FetchTimeoutError(f"{hub_url}: {exc}") from None
        except httpx.TimeoutException:
            raise FetchTimeoutError(f"{hub_url}: no answer within {self._timeout_s:g}s") from None
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"{hub_url}: invalid URL: {exc}") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise FetchError(f"{hub_url}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self._transport.close()
        self._dns.close()


def _start_of(response: httpx.Response, hidden: Iterable[str]) -> str:
    """The first bytes of the reply, undecoded (no decompression bomb), made printable, without
    the `hidden` values (as sent in the form, or quoted otherwise)."""
    read = b""
    for chunk in response.iter_raw():
        read += chunk
        if len(read) >= _REPLY_BYTES:
            break
    text = hide(read[:_REPLY_BYTES].decode("utf-8", "replace"), hidden)
    printable = "".join(c if c.isprintable() else " " for c in text)  # C1 controls too
    return _SPACES.sub(" ", printable).strip()[:_SHOWN_CHARS]


def hide(text: str, values: Iterable[str]) -> str:
    """`text` without any of `values`, in any of their URL-quoted forms, nor a start of one
    cut off at its end (where the reply was cut)."""
    forms = {form for value in values if value for form in _quoted(value)}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, _HIDDEN)
    for form in forms:
        for size in range(len(form) - 1, _MIN_PARTIAL - 1, -1):
            if text.endswith(form[:size]):
                return text[:-size] + _HIDDEN
    return text


def _quoted(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}
