"""A role's loop outlives a failing step, pausing longer each time, up to a cap; a role stops on
SIGTERM whichever of its threads the signal lands on."""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import threading
from pathlib import Path

import pytest

from tests.support.cli import start_cli, write_config
from tests.support.httpserver import LocalServer, Response
from tests.support.roles import StderrTail, wait_until
from worker.observability.logging import get_logger
from worker.observability.resilience import keep_running, next_pause


@pytest.mark.parametrize(
    ("previous", "expected"), [(0.0, 0.5), (0.5, 1.0), (8.0, 16.0), (20.0, 30.0), (30.0, 30.0)]
)
def test_pauses_double_up_to_a_cap(previous: float, expected: float) -> None:
    assert next_pause(previous) == expected


def test_a_step_that_raises_is_retried_until_stopped() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("redis restarting")
        stop.set()

    keep_running(step, stop, get_logger(), "test")
    assert len(calls) == 2


def _ready(tail: StderrTail) -> bool:
    """The role has logged that it runs (or, for a disabled websub, that it idles)."""
    log = "".join(tail.lines)
    return '_started"' in log or '"websub_disabled"' in log


def _thread_ids(pid: int) -> list[int]:
    return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]


def _signal_thread(pid: int, tid: int, signum: int) -> None:
    """tgkill(2): a signal to one thread of a process, as the kernel may pick for a kill(2)."""
    numbers = {"x86_64": 234, "aarch64": 131}
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(numbers[platform.machine()], pid, tid, signum) == 0, ctypes.get_errno()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"),
    reason="tgkill by syscall number: Linux on x86_64 or aarch64 only",
)
@pytest.mark.parametrize("role", ["scheduler", "worker", "notifier", "websub", "archiver"])
def test_a_role_stops_on_sigterm_delivered_to_any_of_its_threads(
    role: str, tmp_path: Path, server: LocalServer, redis_url: str, prefix: str
) -> None:
    """A process-wide SIGTERM lands on whichever thread the kernel picks; Python only runs the
    handler in the main thread, so a main thread blocked for good in `Event.wait()` never saw
    it (the scheduler then had to be killed). Each role must stop whichever thread gets it."""
    server.route("/feed.xml", Response(200, b"<rss><channel><title>t</title></channel></rss>"))
    config = write_config(tmp_path, prefix, [server.url("/feed.xml")])
    tail = StderrTail(start_cli(role, "--config", str(config), redis_url=redis_url))
    try:
        assert wait_until(lambda: _ready(tail), timeout=60)
        pid = tail.process.pid
        others = [tid for tid in _thread_ids(pid) if tid != pid]  # none for an idle websub
        _signal_thread(pid, others[-1] if others else pid, signal.SIGTERM)
        assert wait_until(lambda: tail.process.poll() is not None, timeout=30), "still running"
        assert tail.process.returncode == 0
    finally:
        log = tail.stop()
    assert "Traceback" not in log, log
