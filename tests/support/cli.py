"""Run the real `wirewatch` CLI as a subprocess, with a config written for the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.site import WEBHOOK_SECRET


def write_config(
    directory: Path,
    prefix: str,
    feeds: list[str],
    webhook_url: str | None = None,
    **sections: Any,
) -> Path:
    """A config for tests: the seed watchlists, private addresses allowed, fast retries."""
    notify = ["hook"] if webhook_url else []
    config: dict[str, Any] = {
        "redis_prefix": prefix,
        "data_dir": str(directory / "data"),
        "feeds": [
            {"url": url, "name": f"feed{i}", "interval": "5m"} for i, url in enumerate(feeds)
        ],
        "watchlists": [
            {
                "id": "nato",
                "name": "NATO",
                "query": 'NATO OR "North Atlantic Treaty"',
                "notify": notify,
            },
            {"id": "taiwan", "name": "Taiwan", "query": "Taiwan", "notify": notify},
            {
                "id": "olympics",
                "name": "Olympics",
                "query": "Olympics OR Olympic",
                "notify": notify,
            },
        ],
        "fetch": {"allow_private_addresses": True, "timeout": "10s"},
        "delivery": {"retry_schedule": ["1s", "1s"], "timeout": "5s", "jitter": 0.0},
        "log": {"format": "json"},
    }
    if webhook_url:
        config["webhooks"] = [{"id": "hook", "url": webhook_url, "secret": WEBHOOK_SECRET}]
    config.update(sections)
    path = directory / "wirewatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def cli_env(redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def run_cli(
    *args: str, redis_url: str | None = None, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=cli_env(redis_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
    )


def start_cli(*args: str, redis_url: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", *args],
        env=cli_env(redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
