"""Wiring of the `archiver` role: a Runtime's settings -> store, consumer, spike watch."""

from __future__ import annotations

import threading
from typing import Any

from worker.archive.archiver import Archiver
from worker.archive.intake import ArchiveSink
from worker.archive.spikes import SpikeWatch
from worker.archive.store import ArchiveStore, open_archive
from worker.observability.resilience import wait_for_stop
from worker.queue.keys import ARCHIVE_GROUP
from worker.queue.streams import StreamConsumer


def archive_sink(rt: Any) -> ArchiveSink | None:
    """What a worker hands processed articles to; None when the archive is off."""
    config = rt.settings.archive
    return ArchiveSink(rt.client, rt.keys, config.stream_max) if config.enabled else None


def open_store(rt: Any) -> ArchiveStore:
    """The configured archive, closed with the Runtime."""
    store = open_archive(rt.settings.archive, rt.settings.data_dir)
    rt._closers.append(store)
    return store


def build_archiver(rt: Any) -> Archiver:
    from worker.service import consumer_name

    settings, keys = rt.settings, rt.keys
    consumer = StreamConsumer(
        rt.client,
        keys.archive_stream,
        ARCHIVE_GROUP,
        consumer_name("archiver"),
        keys.archive_dead,
        max_attempts=settings.worker.max_attempts,
        claim_idle_ms=int(settings.worker.claim_idle * 1000),
    )
    config = settings.archive
    store = open_store(rt)
    archiver = Archiver(consumer, store, config.retention, config.prune_every, config.batch, rt.log)
    watch = spike_watch(rt, store)
    if watch is not None:
        archiver.after_batch = watch.check_when_due
    return archiver


def spike_watch(rt: Any, store: ArchiveStore) -> SpikeWatch | None:
    """The spike detector of the watchlists that opted in; None when none did."""
    watched = [w for w in rt.settings.watchlists if w.spike is not None]
    if not watched:
        return None
    return SpikeWatch.build(rt.client, rt.keys, store, watched, rt.log)


def run_archiver(rt: Any, stop: threading.Event) -> None:
    """Archive until stopped; idle when the archive is off (so a Procfile entry keeps running)."""
    if not rt.settings.archive.enabled:
        rt.log.info("archive_disabled", hint="archive.enabled is false")
        wait_for_stop(stop)
        return
    archiver = build_archiver(rt)
    rt.log.info("archiver_started", retention_s=rt.settings.archive.retention)
    archiver.run_until(stop)
    rt.log.info("archiver_stopped")


def drain_archive(rt: Any) -> int:
    """`run --once`: store every article queued for the archive, then return their count."""
    if not rt.settings.archive.enabled:
        return 0
    return build_archiver(rt).run_until_drained()
