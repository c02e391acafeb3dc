"""`wirewatch run --once`: every role's burst mode in this process, in data-flow order."""

from __future__ import annotations

from worker.queue.partitions import ItemShards
from worker.queue.trim import trim_acked
from worker.roles.archiver import ArchiverRole
from worker.roles.notifier import NotifierRole
from worker.roles.runtime import Runtime
from worker.roles.scheduler import SchedulerRole
from worker.roles.worker import WorkerRole


def run_once(rt: Runtime) -> dict[str, int]:
    """Poll every feed once, process what is queued, deliver what is due; a summary of each."""
    summary = SchedulerRole.build(rt).run_once()
    summary["items_processed"] = WorkerRole.build(rt).run_once()
    if rt.settings.archive.enabled:
        summary["articles_archived"] = ArchiverRole.build(rt).run_once()
    summary.update(NotifierRole.build(rt).run_once())
    # Readers trim every few seconds; a burst run may be shorter, so it trims once at its end.
    items = ItemShards(rt.client, rt.keys, rt.settings.queue.partitions).streams()
    trimmed = [trim_acked(rt.client, stream) for stream in (*items, rt.keys.alerts_stream)]
    summary["stream_entries_trimmed"] = sum(trimmed)
    return summary
