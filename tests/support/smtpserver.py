"""A real SMTP server on loopback (aiosmtpd) whose answers to each message are scripted.

Every message it accepts is kept, parsed, so tests can assert headers and MIME parts.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MailHandler:
    """Answers DATA with the scripted replies in turn (e.g. a 451), then accepts."""

    replies: list[str] = field(default_factory=list)
    accepted: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            if self.replies:
                return self.replies.pop(0)
            parsed = message_from_bytes(envelope.original_content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.accepted.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(handler: MailHandler) -> Iterator[int]:
    """Serve on 127.0.0.1; yields the port."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def mailto_url(port: int, **params: str) -> str:
    query = "&".join(
        f"{k}={v}"
        for k, v in {"from": "ww@example.org", "to": "desk@example.org", **params}.items()
    )
    return f"mailto://127.0.0.1:{port}?{query}"


def parts(message: EmailMessage) -> dict[str, str]:
    """The text of each part, by content type (text/plain, text/html)."""
    found: dict[str, str] = {}
    for part in message.walk():
        if not part.is_multipart():
            assert isinstance(part, EmailMessage)
            found[part.get_content_type()] = str(part.get_content())
    return found
