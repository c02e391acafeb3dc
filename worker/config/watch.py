"""One config-file watcher for every role that follows edits without a restart.

The config files are looked at about every two seconds (names, sizes and modification times)
and reloaded when they change or when SIGHUP asks. `load` reads and validates the whole config;
a config with any error changes nothing (`config_reload_failed`) and what is in force stays.
`apply` puts a loaded config into effect (the worker publishes its watchlists, the scheduler and
the websub role replace their feed lists, the notifier its endpoints). An `apply` that fails for
another reason than the config (Redis away) is tried again on the next pass, or the edit would
wait for another edit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from worker.errors import ConfigError, QueryError

Loaded = TypeVar("Loaded")
SETTLE_S = 0.2  # a change must hold this long before it is loaded
Signature = tuple[tuple[str, int, int], ...]


def config_signature(path: Path) -> Signature:
    """Names, sizes and modification times of the config files: changes when any file does."""
    files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    stats = []
    for file in files:
        try:
            info = file.stat()
        except FileNotFoundError:
            continue
        stats.append((str(file), info.st_size, info.st_mtime_ns))
    return tuple(stats)


class ConfigFileWatcher(Generic[Loaded]):
    """Calls `apply(load())` when the config files change or on request (SIGHUP)."""

    def __init__(
        self,
        path: Path,
        load: Callable[[], Loaded],
        apply: Callable[[Loaded], None],
        log: Any,
        loaded_signature: Signature,
        *,
        requested: threading.Event | None = None,
        every_pass: Callable[[], object] | None = None,
        interval_s: float = 2.0,
    ) -> None:
        """`loaded_signature` is the files' signature taken before the running config was read,
        so an edit made while the process was starting is still seen as a change. `every_pass`
        runs on each look (the worker picks up watchlists published elsewhere meanwhile)."""
        self.path = path
        self.load = load
        self.apply = apply
        self.log = log
        self.interval_s = interval_s
        self.requested = requested if requested is not None else threading.Event()
        self.every_pass = every_pass
        self._signature: Signature | None = loaded_signature
        self._retry = False  # the last reload failed on something else than the config

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.requested.wait(self.interval_s)
            if stop.is_set():
                return
            if self.every_pass is not None:
                self._guarded(self.every_pass)
            signature = self._current_signature()
            if signature != self._signature and not self._settled(signature, stop):
                continue  # still being written: looked at again on the next pass
            if signature != self._signature or self.requested.is_set() or self._retry:
                self.requested.clear()
                self._signature = signature
                self._retry = not self._guarded(self.reload)

    def _settled(self, signature: Signature | None, stop: threading.Event) -> bool:
        """The files look the same a moment after a change was seen: an editor or a script that
        truncates and then writes is not caught halfway (an empty file is a valid config with
        no feeds and no watchlists, which would be applied)."""
        stop.wait(SETTLE_S)
        return self._current_signature() == signature

    def _current_signature(self) -> Signature | None:
        """None while the files cannot be looked at (EACCES, ESTALE, a symlink loop): the load
        then says why, and the watcher lives on to see them come back."""
        try:
            return config_signature(self.path)
        except OSError:
            return None

    def _guarded(self, action: Callable[[], object]) -> bool:
        """False when `action` failed for a reason other than the config (Redis down)."""
        try:
            action()
        except Exception as exc:
            self.log.exception("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        return True

    def reload(self) -> bool:
        """Load the config and apply it; on any config error keep what is in force."""
        try:
            self.apply(self.load())
        except (ConfigError, QueryError) as exc:
            self.log.error("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        return True
