"""What every role process shares: settings, one Redis client, the key names, a logger, and the
things to close when it stops. Roles build their own objects from it (worker/roles/<role>.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis

from worker.config import Settings, load_config
from worker.config.policies import fetch_limits
from worker.config.watch import ConfigFileWatcher, Signature
from worker.fetching import Fetcher
from worker.fetching.politeness import HostGate, HostLimit
from worker.observability.logging import get_logger
from worker.queue.connection import Client, open_client
from worker.queue.keys import ITEMS_GROUP, Keys
from worker.queue.liveness import Heartbeat, Instance, Registry
from worker.queue.partitions import ItemShards, ShardedConsumer
from worker.queue.streams import StreamConsumer
from worker.queue.takeover import DeadTakeover, LeaseReads

LEASE_MARGIN_S = 60.0  # a poll or fetch holds its host slot for the fetch deadline plus this

Loaded = TypeVar("Loaded")


def consumer_name(role: str, given: str | None = None) -> str:
    """The instance's name: the one given (`--name`, `WIREWATCH_INSTANCE`; stable across
    restarts, so a restarted instance finds its own pending work), else one per process."""
    return given or f"{role}-{socket.gethostname()}-{os.getpid()}"


def lease_seconds(settings: Settings) -> float:
    return settings.fetch.timeout + LEASE_MARGIN_S


def host_gate(settings: Settings, client: Client, keys: Keys) -> HostGate:
    """Politeness per host, shared by the scheduler's polls and the worker's article fetches."""
    s = settings.scheduler
    overrides = {host: HostLimit(h.max_concurrent, h.min_spacing) for host, h in s.hosts.items()}
    return HostGate(
        client,
        keys,
        default=HostLimit(s.host_max_concurrent, s.host_min_spacing),
        overrides=overrides,
        lease_s=lease_seconds(settings),
    )


@dataclass
class Runtime:
    """Shared resources of one role process: settings, a Redis client, key names, a logger,
    what to close, and how to follow the config files."""

    settings: Settings
    client: Client
    keys: Keys
    log: Any
    config_path: Path | None = None
    redis_url: str = ""
    config_signature: Signature = ()
    reload_requested: threading.Event = field(default_factory=threading.Event)
    instance: str | None = None  # the name given to this process (--name, WIREWATCH_INSTANCE)
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings, redis_url: str) -> Runtime:
        client = open_client(redis_url)
        return cls(settings, client, Keys(settings.redis_prefix), get_logger(), redis_url=redis_url)

    def fetcher(self) -> Fetcher:
        fetcher = Fetcher(fetch_limits(self.settings))
        self.closing(fetcher)
        return fetcher

    def host_gate(self) -> HostGate:
        return host_gate(self.settings, self.client, self.keys)

    def closing(self, closer: Any) -> None:
        """Close `closer` (anything with close()) when the process stops."""
        self._closers.append(closer)

    def registry(self, role: str) -> Registry:
        return Registry(self.client, self.keys, role, self.settings.worker.instance_lease)

    def heartbeat(self, role: str) -> Heartbeat:
        """Hold this process's lease as an instance of `role` until it closes."""
        instance = Instance.this_process(role, consumer_name(role, self.instance))
        beat = Heartbeat(self.registry(role), instance, self.log).start()
        self.closing(beat)
        return beat

    def consumer(
        self,
        role: str,
        stream: str,
        group: str,
        dead: str,
        on_dead: Callable[[list[str]], None] | None = None,
    ) -> StreamConsumer:
        """This instance's consumer of `stream`, holding its lease: the pending entries of dead
        instances are taken over at once (`on_dead` hears their names)."""
        consumer = self._stream_consumer(role, stream, group, dead, on_dead)
        consumer.ensure_group()
        self.heartbeat(role)
        self.closing(_Departure(consumer))
        return consumer

    def item_consumer(self) -> StreamConsumer | ShardedConsumer:
        """This worker's consumer of the items stream, or of every items shard once
        `queue.partitions` is, or ever was, above 1 (worker/queue/partitions.py)."""
        keys = self.keys
        shards = ItemShards(self.client, keys, self.settings.queue.partitions)
        shards.record()
        if shards.readable() == 1:
            return self.consumer("worker", keys.items_stream, ITEMS_GROUP, keys.items_dead)

        lease_reads = LeaseReads(self.registry("worker"))  # one read a second for all shards

        def shard_consumer(shard: int) -> StreamConsumer:
            stream, dead = keys.items_stream_of(shard), keys.items_dead_of(shard)
            return self._stream_consumer("worker", stream, ITEMS_GROUP, dead, None, lease_reads)

        consumer = ShardedConsumer(self.client, shard_consumer, shards.readable)
        consumer.ensure_group()
        self.heartbeat("worker")
        self.closing(_Departure(consumer))
        return consumer

    def _stream_consumer(
        self,
        role: str,
        stream: str,
        group: str,
        dead: str,
        on_dead: Callable[[list[str]], None] | None,
        lease_reads: LeaseReads | None = None,
    ) -> StreamConsumer:
        """A consumer of `stream` with its takeover; an items shard (`lease_reads` given) outside
        the leases' slot is given their scores (worker/queue/takeover.py)."""
        w = self.settings.worker
        registry = self.registry(role)
        elsewhere = lease_reads is not None and stream != self.keys.items_stream
        takeover = DeadTakeover(
            self.client, stream, group, registry, on_dead,
            leases_elsewhere=elsewhere, shared=lease_reads,
        )  # fmt: skip
        return StreamConsumer(
            self.client,
            stream,
            group,
            consumer_name(role, self.instance),
            dead,
            max_attempts=w.max_attempts,
            claim_idle_ms=int(w.claim_idle * 1000),
            takeover=takeover,
        )

    def follow_config(
        self,
        pick: Callable[[Settings], Loaded],
        apply: Callable[[Loaded], None],
        stop: threading.Event,
        every_pass: Callable[[], object] | None = None,
    ) -> None:
        """Apply `pick(config)` whenever the config files change or SIGHUP asks, in a thread;
        nothing without a config path (a role started without files has nothing to follow)."""
        if self.config_path is None:
            return
        path = self.config_path
        watcher = ConfigFileWatcher(
            path,
            lambda: pick(load_config(path, os.environ)),
            apply,
            self.log,
            self.config_signature,
            requested=self.reload_requested,
            every_pass=every_pass,
        )
        threading.Thread(target=watcher.run, args=(stop,), name="config-watch", daemon=True).start()

    def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self.client.close()


@dataclass
class _Departure:
    """On a graceful stop, the consumer leaves its group if nothing is pending under it."""

    consumer: StreamConsumer | ShardedConsumer

    def close(self) -> None:
        # If Redis is gone, a live instance removes the consumer once this lease is out.
        with contextlib.suppress(redis.RedisError):
            self.consumer.leave()
