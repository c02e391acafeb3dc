"""Log records written whole: one `write` per record, so records never run together on a line.

`print()` writes a message and its newline in two calls, and a buffered text stream may split a
long record across several; between any two of those, another writer can put its own record.
Here each record, newline included, is encoded and handed to the kernel in one `os.write`, under
a lock per file descriptor shared by every writer in the process (threads, and the relay of the
roles' output below).

Between processes one call is atomic only up to PIPE_BUF (4 KiB) on a pipe, so `wirewatch run`
does not let its roles share its stderr: each role writes to its own pipe and the supervisor
relays whole lines (`Supervisor._relay`), as the only writer of the real stderr.
"""

from __future__ import annotations

import io
import os
import threading
from typing import Any, TextIO

# Set by `wirewatch run` for its roles when its own stderr is a terminal: their stderr is then a
# pipe to the supervisor, and they should still write for a reader at a terminal.
TERMINAL_VARIABLE = "WIREWATCH_STDERR_IS_TTY"

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(fd: int | None) -> threading.Lock:
    if fd is None:
        return threading.Lock()
    with _locks_guard:
        return _locks.setdefault(fd, threading.Lock())


def _file_descriptor(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None  # an in-memory stream (tests): its write is already whole


def is_terminal(stream: TextIO) -> bool:
    """Whether records on `stream` end up on a terminal (directly, or relayed by `run`)."""
    return stream.isatty() or os.environ.get(TERMINAL_VARIABLE) == "1"


class RecordWriter:
    """Writes rendered records to `stream`, each with its newline in one call."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._fd = _file_descriptor(stream)
        self._lock = _lock_for(self._fd)

    def write_record(self, text: str) -> None:
        self.write_line((text + "\n").encode("utf-8", errors="backslashreplace"))

    def write_line(self, line: bytes) -> None:
        """`line` (ending in a newline, added if missing) in one write. A stream that is gone
        (the reader closed its pipe) drops it: logging never takes a role down."""
        line = line if line.endswith(b"\n") else line + b"\n"
        fd = self._fd
        with self._lock:
            try:
                if fd is None:
                    self.stream.write(line.decode("utf-8", errors="replace"))
                    self.stream.flush()
                    return
                self.stream.flush()  # what print() left in the stream's buffer goes first
                _write_all(fd, line)
            except (OSError, ValueError):  # a closed pipe or terminal, a closed stream
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # one call unless the kernel takes part of it (a signal, a full pipe)
        written = os.write(fd, view)
        view = view[written:]


class RecordLogger:
    """The logger structlog's bound loggers call with each rendered record, at any level."""

    def __init__(self, writer: RecordWriter) -> None:
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer.write_record(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class RecordLoggerFactory:
    """structlog's `logger_factory`: every logger writes through one shared writer."""

    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer

    def __call__(self, *_args: Any) -> RecordLogger:
        return RecordLogger(self.writer)
