"""An HTTP/1.1 server on a raw socket, for what LocalServer (http.server) would normalise away:
exact response bytes (odd headers, any encoding) and keep-alive connection counts."""

from __future__ import annotations

import socket
import threading


class KeepAliveServer:
    """Answers the requests of each keep-alive connection with `answers` in turn (the last one
    repeats); counts the TCP connections it accepts and keeps every request head."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.connections = 0
        self.heads: list[bytes] = []
        self._served = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            pending = b""
            while True:
                while b"\r\n\r\n" not in pending:
                    data = conn.recv(4096)
                    if not data:
                        return
                    pending += data
                head, pending = pending.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                answer = self.answers[min(self._served, len(self.answers) - 1)]
                self._served += 1
                conn.sendall(answer)

    def __enter__(self) -> KeepAliveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
