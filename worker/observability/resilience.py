"""Keeping a role's loop alive through a Redis outage or an unexpected error.

A long-running loop step that raises is logged and retried after a growing pause (capped), so a
Redis restart or a network blip delays work instead of ending the process; work in flight is safe
because nothing is acked until its effects are stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_FIRST_PAUSE_S = 0.5
_MAX_PAUSE_S = 30.0
_SIGNAL_CHECK_S = 0.5


def wait_for_stop(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set, waking up twice a second.

    `stop` is set by a SIGTERM/SIGINT handler, and Python runs handlers in the main thread only
    when it runs bytecode. The kernel may deliver a process-wide signal to any thread: when it
    lands on another one, a main thread blocked in a plain `stop.wait()` never wakes to run the
    handler, and the role ignores SIGTERM until it is killed (seen under `wirewatch run`, where
    Ctrl-C reaches every role). A timed wait returns regularly and lets the handler run.
    """
    while not stop.wait(_SIGNAL_CHECK_S):
        pass


def next_pause(previous_s: float) -> float:
    return min(_MAX_PAUSE_S, max(_FIRST_PAUSE_S, previous_s * 2))


def keep_running(step: Callable[[], object], stop: threading.Event, log: Any, name: str) -> None:
    """Call `step` until `stop` is set; a step that raises is logged and retried after a pause."""
    pause = 0.0
    while not stop.is_set():
        try:
            step()
        except Exception as exc:  # anything: the loop must outlive it
            pause = next_pause(pause)
            log.exception("loop_step_failed", loop=name, error=str(exc), retry_in_s=pause)
            stop.wait(pause)
        else:
            pause = 0.0
