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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from worker.config import Settings
from worker.feeds.model import FeedLike
from worker.polling.scheduler import FeedChanges

# What the scheduler reads once at start; other sections belong to other roles.
FIXED_SETTINGS = ("redis_url", "redis_prefix", "data_dir", "fetch", "scheduler", "websub", "log")


def fixed_settings_changed(running: Settings, loaded: Settings) -> list[str]:
    """Names of the start-time settings that differ (names only: values may hold secrets)."""
    return [name for name in FIXED_SETTINGS if getattr(running, name) != getattr(loaded, name)]


class FeedList(Protocol):
    """What follows the config's feed list: the scheduler, the websub role."""

    def replace_feeds(self, feeds: Sequence[FeedLike]) -> FeedChanges: ...


def feed_list_applier(
    role: FeedList, running: Settings, log: Any, path: Path | None
) -> Callable[[Settings], None]:
    """What a feed-following role's config watcher applies: the new feed list, with a warning
    naming the start-time settings that changed (they need a restart)."""

    def apply(loaded: Settings) -> None:
        fixed = fixed_settings_changed(running, loaded)
        if fixed:
            log.warning("config_reload_needs_restart", config=str(path), settings=fixed)
        changes = role.replace_feeds(loaded.feeds)
        log.info(
            "feeds_reloaded",
            config=str(path),
            feeds=len(loaded.feeds),
            added=changes.added,
            removed=changes.removed,
            changed=changes.changed,
        )

    return apply
