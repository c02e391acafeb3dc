"""`wirewatch run`: one process tree for a single machine.

The parent starts the embedded Redis when no URL is configured, then runs each role as a child
process (`wirewatch scheduler|worker|notifier`, and `websub` when enabled), each under a stable
instance name (host, role, slot: a restarted child finds its own pending work first). A child
that dies is restarted after a pause that doubles with each quick death (capped), so a role that
cannot start does not spin; an embedded redis-server that dies is started again on the same data
(the roles reconnect by themselves). Each child's stderr is a pipe relayed a whole line at a
time, so two roles' records never run together on one line. On SIGTERM/SIGINT it asks every
child to stop, waits for them to finish or hand back their work, then stops Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from worker.observability.logwriter import TERMINAL_VARIABLE, RecordWriter, is_terminal
from worker.queue.embedded import EmbeddedRedis
from worker.queue.liveness import INSTANCE_ENV

ROLES = ("scheduler", "worker", "notifier")
_STOP_GRACE_S = 30.0
_FIRST_RESTART_DELAY_S = 1.0
_MAX_RESTART_DELAY_S = 60.0
_STABLE_AFTER_S = 60.0  # a child that ran this long before dying starts again at once-ish
_CHECK_EVERY_S = 0.5


def role_command(role: str, config_path: Path) -> list[str]:
    return [sys.executable, "-m", "worker.cli", role, "--config", str(config_path)]


def instance_name(role: str, slot: int = 0) -> str:
    return f"{socket.gethostname()}-{role}-{slot}"


def restart_delay(quick_deaths: int) -> float:
    """Pause before restarting a child that died `quick_deaths` times in a row soon after its
    start: 1 s, 2 s, 4 s, ... capped at a minute."""
    exponent = max(0, quick_deaths - 1)
    return min(_MAX_RESTART_DELAY_S, _FIRST_RESTART_DELAY_S * 2.0**exponent)


@dataclass
class Child:
    role: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        config_path: Path,
        redis_url: str,
        log: Any,
        roles: tuple[str, ...] = ROLES,
        json_lines: bool = False,
        embedded: EmbeddedRedis | None = None,
    ) -> None:
        self.config_path = config_path
        self.roles = roles
        self.env = {**os.environ, "REDIS_URL": redis_url}
        if is_terminal(sys.stderr):  # the roles write to a pipe to us, for a reader at a terminal
            self.env[TERMINAL_VARIABLE] = "1"
        self.log = log
        self.embedded = embedded
        self.children: dict[str, Child] = {role: Child(role) for role in roles}
        self.output = RecordWriter(sys.stderr)
        self.relays: list[threading.Thread] = []
        self.json_lines = json_lines  # whether our stderr carries JSON records

    def run(self, stop: threading.Event) -> int:
        signal.signal(signal.SIGHUP, self._forward_hangup)
        for child in self.children.values():
            self._spawn(child)
        while not stop.wait(_CHECK_EVERY_S):
            self._keep_redis_up()
            self._restart_dead()
        self._stop_children()
        return 0

    def _forward_hangup(self, signum: int, _frame: object) -> None:
        """SIGHUP to `wirewatch run` reloads: the worker its watchlists, the scheduler its feeds,
        the notifier its webhooks."""
        for process in self._running():
            process.send_signal(signal.SIGHUP)

    def _running(self) -> list[subprocess.Popen[bytes]]:
        return [
            c.process
            for c in self.children.values()
            if c.process is not None and c.process.poll() is None
        ]

    def _spawn(self, child: Child) -> None:
        command = role_command(child.role, self.config_path)
        env = {**self.env, INSTANCE_ENV: instance_name(child.role)}
        # The child's stderr is a pipe that we relay whole lines from: written to our stderr
        # directly, two roles' long records could run together on one line.
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)  # noqa: S603
        child.process = process
        child.started_at, child.restart_at = time.monotonic(), None
        if process.stderr is not None:
            relay = threading.Thread(
                target=self._relay,
                args=(child.role, process.stderr),
                name=f"relay-{child.role}",
                daemon=True,  # never keeps `run` alive: _stop_children waits for them
            )
            relay.start()
            self.relays = [*(r for r in self.relays if r.is_alive()), relay]
        # `child`, not `role`: every record already carries the role and pid of its writer.
        self.log.info("role_started", child=child.role, child_pid=process.pid)

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

    def _keep_redis_up(self) -> None:
        if self.embedded is None or self.embedded.running():
            return
        self.log.error("redis_exited", restart=True)
        try:
            self.embedded.start()
        except Exception as exc:  # tried again at the next check
            self.log.error("redis_restart_failed", error=str(exc))
            return
        self.log.info("redis_restarted", url=self.embedded.url)

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                ran_s = now - child.started_at
                child.quick_deaths = 0 if ran_s >= _STABLE_AFTER_S else child.quick_deaths + 1
                delay = restart_delay(max(1, child.quick_deaths))
                child.restart_at = now + delay
                self.log.error(
                    "role_exited",
                    child=child.role,
                    exit_code=child.process.returncode,
                    restart_in_s=delay,
                )
            if now >= child.restart_at:
                self._spawn(child)

    def _stop_children(self) -> None:
        for process in self._running():
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for child in self.children.values():
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log.error("role_killed", child=child.role, reason="did not stop in time")
                child.process.kill()
                child.process.wait()
        for relay in self.relays:  # each ends when its child's last line is copied
            relay.join(timeout=_STOP_GRACE_S)
