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
from typing import IO, Any

from worker.observability.logwriter import TERMINAL_VARIABLE, RecordWriter, is_terminal

ROLES = ("scheduler", "worker", "notifier")
_STOP_GRACE_S = 30.0
_RESTART_DELAY_S = 2.0


def role_command(role: str, config_path: Path) -> list[str]:
    return [sys.executable, "-m", "worker.cli", role, "--config", str(config_path)]


class Supervisor:
    def __init__(
        self,
        config_path: Path,
        redis_url: str,
        log: Any,
        roles: tuple[str, ...] = ROLES,
        json_lines: bool = False,
    ) -> None:
        self.config_path = config_path
        self.roles = roles
        self.env = {**os.environ, "REDIS_URL": redis_url}
        if is_terminal(sys.stderr):  # the roles write to a pipe to us, for a reader at a terminal
            self.env[TERMINAL_VARIABLE] = "1"
        self.log = log
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.output = RecordWriter(sys.stderr)
        self.relays: list[threading.Thread] = []
        self.json_lines = json_lines  # whether our stderr carries JSON records

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
        # Each role's stderr is a pipe that we relay whole lines from: written to our stderr
        # directly, two roles' long records could run together on one line.
        child = subprocess.Popen(command, env=self.env, stderr=subprocess.PIPE)  # noqa: S603
        self.children[role] = child
        if child.stderr is not None:
            relay = threading.Thread(
                target=self._relay,
                args=(role, child.stderr),
                name=f"relay-{role}",
                daemon=True,  # never keeps `run` alive: _stop_children waits for them
            )
            relay.start()
            self.relays = [*(r for r in self.relays if r.is_alive()), relay]
        # `child`, not `role`: every record already carries the role and pid of its writer.
        self.log.info("role_started", child=role, child_pid=self.children[role].pid)

    def _relay(self, role: str, source: IO[bytes]) -> None:
        """Copy a role's stderr to ours a whole line at a time, until the role closes it. In
        JSON output, a line the role wrote outside logging (an error message, a traceback) is
        made a record of its own, so the output stays JSON."""
        with source:
            for line in iter(source.readline, b""):
                if not self.json_lines or line.lstrip().startswith(b"{"):
                    self.output.write_line(line)
                elif text := line.decode("utf-8", errors="replace").rstrip():
                    self.log.error("role_output", child=role, text=text)

    def _restart_dead(self) -> None:
        for role, child in list(self.children.items()):
            code = child.poll()
            if code is None:
                continue
            self.log.error("role_exited", child=role, exit_code=code, restart_in_s=_RESTART_DELAY_S)
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
                self.log.error("role_killed", child=role, reason="did not stop in time")
                child.kill()
                child.wait()
        for relay in self.relays:  # each ends when its child's last line is copied
            relay.join(timeout=_STOP_GRACE_S)
