"""Endpoints whose `url` uses an Apprise scheme (mailto://, ntfy://, tgram://, ...): validating
those URLs, keeping their credentials out of every message, and sending through `apprise`.

Apprise's send blocks and reports only success or failure. It runs in a small pool per endpoint
with a deadline, so a hung server holds only that endpoint's sending slot, and its socket
timeouts are set to the delivery timeout so a hung send ends soon after the deadline too.
Apprise logs (some at trace level with whole URLs) never reach wirewatch's log: its logger is
detached here, and only its last warning of a failed send, redacted, becomes the failure reason.
Endpoint URLs come from the trusted configuration, so no private-address rule applies to them;
apprise is given no plugin paths and in-memory storage, so it reads no files and contacts only
the URL's server.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qsl, unquote

from worker.alerts.messages import Dialect, Message, Style, render_message
from worker.alerts.retry import Outcome

HTTP_SCHEMES = ("http", "https")
REDACTED = "***"
# Limits the services document, where apprise's own allowance is higher (ntfy counts bytes).
CHANNEL_LIMITS: dict[str, tuple[int, bool]] = {
    "tgram": (4096, False),
    "discord": (2000, False),
    "ntfy": (4096, True),
    "ntfys": (4096, True),
}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_MIN_SECRET_CHARS = 3
_EXCEPTION_PREFIXES = ("Socket Exception:", "Exception:")


def scheme_of(url: str) -> str:
    found = _SCHEME.match(url.strip())
    return found.group(1).lower() if found else ""


def is_apprise_url(url: str) -> bool:
    """Whether `url` is for apprise: any scheme but http(s), which stay Standard Webhooks."""
    return scheme_of(url) not in ("", *HTTP_SCHEMES)


# -- apprise's logging --------------------------------------------------------------------------
def _detach_apprise_logging() -> None:
    logger = logging.getLogger("apprise")
    logger.propagate = False  # its records may quote URLs: they must not reach our log
    logger.setLevel(logging.DEBUG)  # a failure's cause is logged at debug level, into its result
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())  # nor stderr, through the last-resort handler


_detach_apprise_logging()


def failure_reason(result: Any) -> str:
    """Why a send failed, from the log apprise keeps with its result (apprise 2): its last
    warning, and the exception behind it, which it logs at debug level."""
    logs = getattr(result, "logs", None)
    entries = list(logs()) if callable(logs) else []
    warning = cause = ""
    for entry in entries:
        message = str(getattr(entry, "message", ""))
        if str(getattr(entry, "level", "")) in ("WARNING", "ERROR", "CRITICAL"):
            warning = message
        elif message.startswith(_EXCEPTION_PREFIXES):
            cause = message.split(":", 1)[1].strip()
    reason = f"{warning} ({cause})" if warning and cause else warning or cause
    return reason or "the service did not accept the message"


def _load_plugins() -> Any:
    """Apprise's services, loaded once, on first use: apprise is imported only here and in
    the functions below, so setups and commands that never meet an Apprise URL never pay for it.
    """
    from apprise.manager_plugins import NotificationManager

    manager = NotificationManager()  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        # Python 3.11 deprecates imghdr, which apprise's email plugin imports; a warning made
        # an error (as in the tests) would make apprise drop that plugin silently.
        warnings.simplefilter("ignore", DeprecationWarning)
        manager.load_modules()  # type: ignore[no-untyped-call]
    return manager


# -- validating and redacting -------------------------------------------------------------------
def _asset(timeout_s: float | None = None) -> Any:
    """Apprise's settings: no plugins from disk, nothing stored or logged to disk, no icon URLs
    (they would make the receiving app fetch images from Apprise's site), and the send in the
    calling thread (already one of the endpoint's pool), within `timeout_s` when given."""
    import apprise
    from apprise.common import PersistentStoreMode

    return apprise.AppriseAsset(
        plugin_paths=[],
        storage_mode=PersistentStoreMode.MEMORY,
        result_log_disk_size=0,
        image_url_mask="",
        image_url_logo="",
        async_mode=False,
        service_timeout=timeout_s,
    )


def check_apprise_url(url: str) -> str:
    """`url` stripped, if apprise knows its scheme and can build a sender from it.

    Error messages name the scheme only: the rest of the URL may hold credentials.
    """
    url = url.strip()
    scheme = scheme_of(url)
    if not scheme:
        raise ValueError("URL has no scheme: use http(s):// or an Apprise URL such as ntfy://")
    if scheme not in _load_plugins():
        raise ValueError(
            f"unknown URL scheme {scheme}://: not http(s) and not one of Apprise's services"
        )
    if _instantiate(url) is None:
        raise ValueError(
            f"malformed {scheme}:// URL: Apprise cannot use it (see its wiki for the form)"
        )
    return url


def _instantiate(url: str, timeout_s: float | None = None) -> Any:
    import apprise

    _load_plugins()
    plugin = apprise.Apprise.instantiate(url, asset=_asset(timeout_s))
    if plugin is not None and timeout_s is not None:
        plugin.socket_connect_timeout = timeout_s
        plugin.socket_read_timeout = timeout_s
    return plugin


def secret_parts(url: str) -> list[str]:
    """Every part of `url` that may be a credential or a private address (user, password,
    host without dots, path segments, query values), longest first, decoded and as written."""
    rest = url.strip().split("://", 1)[-1]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    tail = rest[len(netloc) :]
    userinfo, at, hostport = netloc.rpartition("@")
    host, _, port = hostport.partition(":")
    parts = userinfo.split(":") if at else []
    if "." not in host:
        parts.append(host)
    if port and not port.isdigit():
        parts.append(port)
    path, _, query = tail.partition("?")
    parts += path.replace("#", "/").split("/")
    parts += [value for _, value in parse_qsl(query.split("#")[0], keep_blank_values=False)]
    found = {p for part in parts for p in (part, unquote(part)) if len(p) >= _MIN_SECRET_CHARS}
    return sorted(found | {url.strip()}, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


# -- the channel --------------------------------------------------------------------------------
def style_of(plugin: Any, scheme: str) -> Style:
    """The channel's markup (its native one; Markdown over plain text where it renders it, since
    its escaping then makes feed text literal) and its length limits."""
    declared = plugin.notify_format
    listed = declared if isinstance(declared, list | tuple) else [declared]
    from apprise.common import NotifyFormat

    formats = [NotifyFormat(f) for f in listed]
    formats = formats or [NotifyFormat.TEXT]
    if formats[0] is NotifyFormat.HTML:
        dialect = Dialect.HTML
    elif NotifyFormat.MARKDOWN in formats:
        dialect = Dialect.MARKDOWN
    else:
        dialect = Dialect.TEXT
    body_max, in_bytes = CHANNEL_LIMITS.get(scheme, (int(plugin.body_maxlen), False))
    return Style(dialect, body_max, max(int(plugin.title_maxlen), 0), in_bytes)


class AppriseChannel:
    """One endpoint's sender: renders messages in its style and sends them with a deadline."""

    def __init__(self, url: str, timeout_s: float, concurrency: int) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.secrets = secret_parts(url)
        plugin = _instantiate(url)
        if plugin is None:
            raise ValueError(f"malformed {scheme_of(url)}:// URL")
        self.style = style_of(plugin, scheme_of(url))
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="apprise")

    def render(self, envelopes: Sequence[dict[str, Any]], digest: bool) -> str:
        """The delivery body: the message, as JSON, in this channel's markup and limits."""
        return render_message(envelopes, self.style, digest).to_json()

    def send(self, body: str) -> Outcome:
        try:
            message = Message.from_json(body)
        except (ValueError, TypeError):  # made for another kind of endpoint, before a config edit
            return Outcome(False, "the delivery holds no message for this channel")
        future = self._pool.submit(self._notify, message)
        try:
            return future.result(timeout=self.timeout_s)
        except FutureTimeout:
            return Outcome(False, f"no answer within {self.timeout_s:g}s")

    def _notify(self, message: Message) -> Outcome:
        import apprise

        try:
            sender = apprise.Apprise(asset=_asset(self.timeout_s))
            sender.add(_instantiate(self.url, self.timeout_s))
            result = sender.notify(
                body=message.body,
                title=message.title,
                body_format=message.dialect,
                log_level=logging.DEBUG,
            )
        except Exception as exc:  # a plugin bug must be a failed send, not a lost thread
            return Outcome(False, redact(f"{type(exc).__name__}: {exc}", self.secrets))
        if result:
            return Outcome(True)
        return Outcome(False, redact(failure_reason(result), self.secrets))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
