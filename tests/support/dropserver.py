"""A keep-alive HTTP/1.1 server that drops its connections the way real ones do: after
`answered` requests on a connection, the next request is met with a close, a reset, or the
start of an answer and then a close. Counts connections and keeps every request head."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"


class DroppingServer:
    def __init__(self, answered: int, drop: str = "close", delay_s: float = 0.0) -> None:
        if drop not in ("close", "reset", "partial"):
            raise ValueError(drop)
        self.answered = answered
        self.drop = drop
        self.delay_s = delay_s  # before each answer, so a request is in flight that long
        self.connections = 0
        self.heads: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the client went away: nothing to answer
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            for served in range(self.answered + 1):
                head = _read_request(conn)
                if head is None:
                    return
                self.heads.append(head)
                if served == self.answered:
                    self._drop(conn)
                    return
                threading.Event().wait(self.delay_s)
                conn.sendall(OK)

    def _drop(self, conn: socket.socket) -> None:
        if self.drop == "reset":  # RST instead of FIN: the client's read fails with ECONNRESET
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif self.drop == "partial":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")

    def __enter__(self) -> DroppingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def _read_request(conn: socket.socket) -> bytes | None:
    """The head of the next request (its body, if any, read by Content-Length)."""
    pending = b""
    while b"\r\n\r\n" not in pending:
        data = conn.recv(65536)
        if not data:
            return None
        pending += data
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None
        rest += data
    return head
