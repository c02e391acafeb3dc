"""`wirewatch run --once`: every role's burst mode in this process, in data-flow order."""

from __future__ import annotations

from worker.roles.notifier import NotifierRole
from worker.roles.runtime import Runtime
from worker.roles.scheduler import SchedulerRole
from worker.roles.worker import WorkerRole


def run_once(rt: Runtime) -> dict[str, int]:
    """Poll every feed once, process what is queued, deliver what is due; a summary of each."""
    summary = SchedulerRole.build(rt).run_once()
    summary["items_processed"] = WorkerRole.build(rt).run_once()
    summary.update(NotifierRole.build(rt).run_once())
    return summary
