"""Configuration: YAML files (or a directory of them) -> validated, frozen `Settings`.

`load_config` reports every problem at once, each as `<file>:<line>: <field>: <message>`.
"""

from worker.config.loader import load_config
from worker.config.models import (
    DeliveryConfig,
    FeedConfig,
    FetchConfig,
    LogConfig,
    SchedulerConfig,
    Settings,
    WatchlistConfig,
    WebhookConfig,
    WebSubConfig,
    WorkerConfig,
)
from worker.units import parse_duration, parse_size

__all__ = [
    "DeliveryConfig",
    "FeedConfig",
    "FetchConfig",
    "LogConfig",
    "SchedulerConfig",
    "Settings",
    "WatchlistConfig",
    "WebSubConfig",
    "WebhookConfig",
    "WorkerConfig",
    "load_config",
    "parse_duration",
    "parse_size",
]
