"""The supervisor's restart pacing and instance names (pure)."""

from __future__ import annotations

import socket

from worker.roles.supervisor import instance_name, restart_delay


def test_a_child_dying_again_and_again_waits_twice_as_long_each_time_up_to_a_minute() -> None:
    assert [restart_delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_instances_under_run_are_named_by_host_role_and_slot() -> None:
    assert instance_name("worker") == f"{socket.gethostname()}-worker-0"
    assert instance_name("notifier", 2) == f"{socket.gethostname()}-notifier-2"
