"""The WebSub listener against hostile clients: heads, lengths, slow drips."""

from __future__ import annotations

import secrets
import select
import socket

from tests.support.websub import (
    World,
    atom,
    raw_exchange,
    sign,
    subscribed,
)
from worker.observability.logging import get_logger
from worker.websub.listener import WebSubListener


def test_content_length_of_non_ascii_digits_is_refused_not_a_server_error(world: World) -> None:
    token = subscribed(world)["token"]
    # "\xb2" (superscript two) is a digit to str.isdigit() but not to int()
    head = f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n"
    assert raw_exchange(world.listener.port, head.encode("latin-1")).startswith(b"HTTP/1.1 411")


def test_push_with_two_content_lengths_or_any_transfer_encoding_is_refused(world: World) -> None:
    """What a proxy in front and the listener make of such a request may differ (smuggling)."""
    token = subscribed(world)["token"]
    body = atom(world.hub.url, range(3))
    signature = sign(body, world.record()["secret"])
    framings = [
        f"Content-Length: 5\r\nContent-Length: {len(body)}",
        f"Transfer-Encoding: gzip\r\nContent-Length: {len(body)}",
    ]
    for framing in framings:
        head = (
            f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: {signature}\r\n"
            f"Content-Type: application/atom+xml\r\n{framing}\r\n\r\n"
        )
        status = raw_exchange(world.listener.port, head.encode() + body)
        assert status.startswith((b"HTTP/1.1 400", b"HTTP/1.1 411")), (framing, status)
    assert world.queued() == ["urn:e0", "urn:e1"]


def test_push_to_an_unknown_token_is_answered_before_its_body_is_read(world: World) -> None:
    subscribed(world)
    token = secrets.token_urlsafe(32)
    head = f"POST /websub/{token} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    # the body never comes: a listener that waits for it answers 400 once its socket times out
    assert raw_exchange(world.listener.port, head.encode(), keep_open=True).startswith(
        b"HTTP/1.1 404"
    )


def test_request_head_larger_than_the_cap_is_refused(world: World) -> None:
    token = subscribed(world)["token"]
    padding = "".join(f"X-Pad-{i}: {'p' * 1000}\r\n" for i in range(90))  # each line is legal
    head = f"GET /websub/{token}?hub.mode=subscribe HTTP/1.1\r\nHost: x\r\n{padding}\r\n"
    status = raw_exchange(world.listener.port, head.encode())
    assert status == b"" or status.startswith(b"HTTP/1.1 431"), status


def test_request_head_dripped_slowly_is_cut_off(world: World) -> None:
    """Each header line comes well within the socket timeout, so only a deadline on the whole
    head frees the connection slot."""
    listener = WebSubListener(
        ("127.0.0.1", 0), world.listener.callbacks, get_logger(), 1000, head_deadline_s=0.5
    )
    listener.start()
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            sock.sendall(b"GET /websub/" + b"a" * 43 + b" HTTP/1.1\r\n")
            closed = False
            for i in range(100):  # 100 lines 0.1 s apart: far past the head's deadline
                try:
                    sock.sendall(b"X-Drip-%d: x\r\n" % i)
                    if select.select([sock], [], [], 0.1)[0]:
                        closed = sock.recv(4096) == b""
                except ConnectionError:
                    closed = True
                if closed:
                    break
            assert closed
    finally:
        listener.stop()
