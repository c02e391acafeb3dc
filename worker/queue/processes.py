"""Telling whether a process on this machine still runs (by pid and start time)."""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path


def process_start(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc), "" if it does not run
    or this is not Linux. With the pid it names one process, never a later one reusing the pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()  # counted after the command name: field 3 is [0]
    if fields[0] in ("Z", "X"):
        return ""  # a zombie no longer runs (its parent has not reaped it yet)
    return fields[19]  # field 22: start time


@cache
def machine_identity() -> str:
    """Host name, kernel boot and pid namespace: two processes with the same identity see the
    same pids (containers sharing a host name do not), so one can tell the other is gone."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(path).read_text().strip() if "boot" in path else os.readlink(path))
        except OSError:
            parts.append("?")
    return "|".join(parts)


def process_gone(pid: int, started: str) -> bool:
    """True when the process (on this machine) has exited, or its pid now names another."""
    if started:
        return process_start(pid) != started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
