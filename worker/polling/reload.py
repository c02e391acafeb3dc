"""A role's live feed list (the scheduler's, the websub process's): it follows edits to the
config files and SIGHUP.

Like the workers' watchlists (worker/pipeline/watchlists.py), the config files are looked at
about every two seconds and reloaded when they change or when SIGHUP asks. The whole config is
loaded and validated; a config with any error changes nothing (`config_reload_failed`) and the
feeds in force stay. Only the feed list is applied live; the other settings these roles
use (Redis, fetch limits, politeness, polling policy...) are read once at start, so a
change to them is logged as needing a restart and otherwise ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from worker.config import Settings
from worker.errors import ConfigError
from worker.feeds.model import FeedLike
from worker.pipeline.watchlists import config_signature
from worker.polling.scheduler import FeedChanges

# What the scheduler reads once at start; other sections belong to other roles.
FIXED_SETTINGS = ("redis_url", "redis_prefix", "data_dir", "fetch", "scheduler", "websub", "log")


def fixed_settings_changed(running: Settings, loaded: Settings) -> list[str]:
    """Names of the start-time settings that differ (names only: values may hold secrets)."""
    return [name for name in FIXED_SETTINGS if getattr(running, name) != getattr(loaded, name)]


class FeedList(Protocol):
    """What follows the config's feed list: the scheduler, the websub role."""

    def replace_feeds(self, feeds: Sequence[FeedLike]) -> FeedChanges: ...


class FeedConfigWatcher:
    """Reloads a role's feeds when the config files change or on request (SIGHUP)."""

    def __init__(
        self,
        path: Path,
        load: Callable[[], Settings],
        scheduler: FeedList,
        running: Settings,
        log: Any,
        loaded_signature: tuple[tuple[str, int, int], ...],
        requested: threading.Event | None = None,
        interval_s: float = 2.0,
    ) -> None:
        """`loaded_signature` is the files' signature taken before `running` was read, so an
        edit made while the process was starting is still seen as a change."""
        self.path = path
        self.load = load
        self.scheduler = scheduler
        self.running = running
        self.log = log
        self.interval_s = interval_s
        self.requested = requested if requested is not None else threading.Event()
        self._signature: tuple[tuple[str, int, int], ...] | None = loaded_signature
        self._retry = False  # the last reload failed on something else than the config

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.requested.wait(self.interval_s)
            if stop.is_set():
                return
            signature = self._current_signature()
            if signature != self._signature or self.requested.is_set() or self._retry:
                self.requested.clear()
                self._signature = signature
                self._retry = not self._reload_guarded()

    def _current_signature(self) -> tuple[tuple[str, int, int], ...] | None:
        """None while the files cannot be looked at (EACCES, ESTALE, a symlink loop): the load
        then says why, and the watcher lives on to see them come back (an OSError here ended
        its thread, and the feed list followed no edit again until a restart)."""
        try:
            return config_signature(self.path)
        except OSError:
            return None

    def _reload_guarded(self) -> bool:
        """False when the reload failed for a reason other than the config (Redis down): it is
        tried again on the next pass, or feeds added by the edit would wait for another edit."""
        try:
            self.reload()
        except Exception as exc:
            self.log.exception("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        return True

    def reload(self) -> bool:
        """Load the config and poll its feeds; on any config error keep the feeds in force."""
        try:
            loaded = self.load()
        except ConfigError as exc:
            self.log.error("config_reload_failed", config=str(self.path), error=str(exc))
            return False
        fixed = fixed_settings_changed(self.running, loaded)
        if fixed:
            self.log.warning("config_reload_needs_restart", config=str(self.path), settings=fixed)
        changes = self.scheduler.replace_feeds(loaded.feeds)
        self.log.info(
            "feeds_reloaded",
            config=str(self.path),
            feeds=len(loaded.feeds),
            added=changes.added,
            removed=changes.removed,
            changed=changes.changed,
        )
        return True
