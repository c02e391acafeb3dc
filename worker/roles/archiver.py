"""The archiver role: store each processed article in the archive, prune it, send spike alerts.

Life cycle: `ArchiverRole.build(rt)` opens the configured archive (SQLite under data_dir, or
PostgreSQL) and joins the archive stream's group; `run(stop)` archives until stopped (the
process idles when the archive is off, so a Procfile entry keeps running); `run_once()` stores
every article queued for the archive (`wirewatch run --once`). The worker's side, putting each
processed article on the archive stream, is `archive_sink`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from worker.archive.archiver import Archiver
from worker.archive.intake import ArchiveSink
from worker.archive.spikes import SpikeWatch
from worker.archive.store import ArchiveStore, open_archive
from worker.observability.resilience import wait_for_stop
from worker.queue.keys import ARCHIVE_GROUP
from worker.roles.runtime import Runtime


def archive_sink(rt: Runtime) -> ArchiveSink | None:
    """What a worker hands processed articles to; None when the archive is off."""
    config = rt.settings.archive
    return ArchiveSink(rt.client, rt.keys, config.stream_max) if config.enabled else None


def open_store(rt: Runtime) -> ArchiveStore:
    """The configured archive, closed with the Runtime."""
    store = open_archive(rt.settings.archive, rt.settings.data_dir)
    rt.closing(store)
    return store


def spike_watch(rt: Runtime, store: ArchiveStore) -> SpikeWatch:
    """The spike detector of the watchlists that opt in (none yet is fine: an edit of the
    config may add one, and checking no watchlist costs nothing)."""
    watched = [w for w in rt.settings.watchlists if w.spike is not None]
    return SpikeWatch.build(rt.client, rt.keys, store, watched, rt.log)


@dataclass
class ArchiverRole:
    rt: Runtime
    archiver: Archiver
    watch: SpikeWatch

    @classmethod
    def build(cls, rt: Runtime) -> ArchiverRole:
        keys, config = rt.keys, rt.settings.archive
        consumer = rt.consumer("archiver", keys.archive_stream, ARCHIVE_GROUP, keys.archive_dead)
        store = open_store(rt)
        archiver = Archiver(
            consumer, store, config.retention, config.prune_every, config.batch, rt.log
        )
        watch = spike_watch(rt, store)
        archiver.after_batch = watch.check_when_due
        return cls(rt, archiver, watch)

    def run(self, stop: threading.Event) -> None:
        self.rt.log.info("archiver_started", retention_s=self.rt.settings.archive.retention)
        # spike settings follow config edits, as watchlists do in the workers
        self.rt.follow_config(lambda settings: settings.watchlists, self.watch.follow, stop)
        self.archiver.run_until(stop)
        self.rt.log.info("archiver_stopped")

    def run_once(self) -> int:
        return self.archiver.run_until_drained()


def idle(rt: Runtime, stop: threading.Event) -> None:
    """The archiver process while the archive is off: it idles, so a Procfile entry keeps
    running."""
    rt.log.info("archive_disabled", hint="archive.enabled is false")
    wait_for_stop(stop)
