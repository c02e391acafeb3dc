"""Helpers for fault tests: wait for a condition, stop or kill CLI role processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 60.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def stop(process: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """SIGTERM, wait, and return stderr (the log) for assertions and failure messages."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=timeout)
    return stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StderrTail:
    """The log lines (stderr) of a running role process, collected by a thread as they come,
    so a test can wait for a line instead of sleeping; `stop` ends the process and returns all."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def stop(self, timeout: float = 60.0) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return "".join(self.lines)
