"""`wirewatch run`: one process tree for a single machine.

The parent starts the embedded Redis when no URL is configured, then runs each role as a child
process (`wirewatch scheduler|worker|notifier`, and `websub` when enabled), restarts a child
that dies, and on SIGTERM/SIGINT asks every child to stop, waits for them to finish or hand
back their work, then stops Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROLES = ("scheduler", "worker", "notifier")
_STOP_GRACE_S = 30.0
_RESTART_DELAY_S = 2.0


def role_command(role: str, config_path: Path) -> list[str]:
    return [sys.executable, "-m", "worker.cli", role, "--config", str(config_path)]


class Supervisor:
    def __init__(
        self, config_path: Path, redis_url: str, log: Any, roles: tuple[str, ...] = ROLES
    ) -> None:
        self.config_path = config_path
        self.roles = roles
        self.env = {**os.environ, "REDIS_URL": redis_url}
        self.log = log
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, stop: threading.Event) -> int:
        signal.signal(signal.SIGHUP, self._forward_hangup)
        for role in self.roles:
            self._spawn(role)
        while not stop.wait(0.5):
            self._restart_dead()
        self._stop_children()
        return 0

    def _forward_hangup(self, signum: int, _frame: object) -> None:
        """SIGHUP to `wirewatch run` reloads: the worker its watchlists, the scheduler its feeds,
        the notifier its webhooks."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGHUP)

    def _spawn(self, role: str) -> None:
        command = role_command(role, self.config_path)
        self.children[role] = subprocess.Popen(command, env=self.env)  # noqa: S603
        self.log.info("role_started", role=role, pid=self.children[role].pid)

    def _restart_dead(self) -> None:
        for role, child in list(self.children.items()):
            code = child.poll()
            if code is None:
                continue
            self.log.error("role_exited", role=role, exit_code=code, restart_in_s=_RESTART_DELAY_S)
            time.sleep(_RESTART_DELAY_S)
            self._spawn(role)

    def _stop_children(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for role, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log.error("role_killed", role=role, reason="did not stop in time")
                child.kill()
                child.wait()
