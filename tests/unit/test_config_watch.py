"""The config watcher against real files: a change is loaded once it has settled."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from worker.config.watch import ConfigFileWatcher, config_signature


class Log:
    def error(self, event: str, **fields: object) -> None:
        raise AssertionError(f"unexpected error {event} {fields}")

    def exception(self, event: str, **fields: object) -> None:
        raise AssertionError(f"unexpected exception {event} {fields}")


def test_a_file_caught_halfway_through_a_rewrite_is_never_applied(tmp_path: Path) -> None:
    """Editors and scripts often truncate a file and then write it: the empty file in between
    is a valid config (no feeds, no watchlists) and must not be put in force."""
    path = tmp_path / "config.yaml"
    path.write_text("v0")
    applied: list[str] = []
    watcher = ConfigFileWatcher(
        path, path.read_text, applied.append, Log(), config_signature(path), interval_s=0.005
    )
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        for version in range(1, 11):
            path.write_text("")  # truncated...
            time.sleep(0.03)  # ...for several of the watcher's passes (far less than it waits)
            path.write_text(f"v{version}")
            time.sleep(0.3)
        deadline = time.monotonic() + 30
        while applied[-1:] != ["v10"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert "" not in applied
    assert applied[-1] == "v10"
