"""`web.workers`: a `wirewatch web` process with N worker processes on one port, each of which
serves on its own, one that dies replaced, all gone when the role stops."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import redis

from tests.support.cli import start_cli, write_config
from tests.support.roles import StderrTail, free_port, wait_until
from tests.support.web import READ, TOKENS

WORKERS = 2


def worker_processes(pid: int) -> list[int]:
    """The web role's worker processes: its children started by multiprocessing's spawn (its
    resource tracker, also a child, is not one)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(child)
    return sorted(found)


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def gone(pid: int) -> bool:
    """Exited (a zombie counts: whoever adopted it may not have reaped it yet)."""
    try:
        return state(pid) == "Z"
    except OSError:
        return True


def answers(port: int) -> bool:
    """A fresh connection each time: it goes to whichever worker process accepts it."""
    try:
        with httpx.Client(timeout=30) as http:
            response = http.get(
                f"http://127.0.0.1:{port}/api/v1/alerts",
                headers={"Authorization": f"Bearer {READ}"},
            )
    except httpx.TransportError:
        return False
    return response.status_code == 200 and response.json()["alerts"] == []


def test_worker_processes_each_serve_the_port_are_replaced_and_stop_with_the_role(
    tmp_path: Path, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    port = free_port()
    web = {"enabled": True, "listen": f"127.0.0.1:{port}", "tokens": TOKENS, "workers": WORKERS}
    config = write_config(tmp_path, prefix, [], web=web)
    role = StderrTail(start_cli("web", "--config", str(config), redis_url=redis_url))
    try:
        assert wait_until(lambda: answers(port), timeout=60), "".join(role.lines)
        assert wait_until(lambda: len(worker_processes(role.process.pid)) == WORKERS, timeout=60)
        first, second = worker_processes(role.process.pid)

        # With one worker process stopped, the other answers: each serves the shared port.
        for paused, other in ((first, second), (second, first)):
            os.kill(paused, signal.SIGSTOP)
            try:
                assert wait_until(lambda p=paused: state(p) == "T", timeout=30)
                assert answers(port), f"worker {other} did not answer while {paused} was stopped"
            finally:
                os.kill(paused, signal.SIGCONT)

        # A worker process that dies is replaced; the port keeps answering.
        os.kill(first, signal.SIGKILL)
        assert wait_until(
            lambda: (
                len(worker_processes(role.process.pid)) == WORKERS
                and first not in worker_processes(role.process.pid)
            ),
            timeout=60,
        ), "".join(role.lines)
        assert wait_until(lambda: answers(port), timeout=60)
        assert any("web_worker_exited" in line for line in role.lines)
        workers = worker_processes(role.process.pid)
    finally:
        log = role.stop()

    assert role.process.returncode == 0, log
    for pid in workers:  # stopped with the role: none is left holding the port
        assert wait_until(lambda p=pid: gone(p), timeout=30), log
    assert not answers(port)


def test_worker_processes_exit_when_the_role_process_is_sigkilled(
    tmp_path: Path, redis_url: str, prefix: str, client: redis.Redis
) -> None:
    port = free_port()
    web = {"enabled": True, "listen": f"127.0.0.1:{port}", "tokens": TOKENS, "workers": WORKERS}
    config = write_config(tmp_path, prefix, [], web=web)
    role = StderrTail(start_cli("web", "--config", str(config), redis_url=redis_url))
    try:
        assert wait_until(lambda: answers(port), timeout=60), "".join(role.lines)
        assert wait_until(lambda: len(worker_processes(role.process.pid)) == WORKERS, timeout=60)
        workers = worker_processes(role.process.pid)
        role.process.kill()
        role.process.wait(timeout=30)
    finally:
        log = role.stop()

    # Orphaned, they would keep the port from the role's next start.
    for pid in workers:
        assert wait_until(lambda p=pid: gone(p), timeout=30), log
    assert wait_until(lambda: not answers(port), timeout=30)
