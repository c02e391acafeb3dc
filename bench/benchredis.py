"""The Redis a bench runs against: its own embedded server unless `--redis` names one.

A bench never flushes a database it did not create. On its own server (a temporary folder,
removed afterwards) anything goes; on a server given with `--redis` it writes only under a key
prefix of its own and deletes just those keys when done.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from worker.queue.embedded import EmbeddedRedis


@dataclass(frozen=True)
class BenchRedis:
    url: str
    owned: bool  # started by this bench: nobody else's data is there
    prefix: str  # the key prefix this run writes under

    def clear(self, client: redis.Redis) -> None:
        """Remove what this run wrote: the whole database if ours, else only our prefix."""
        if self.owned:
            client.flushdb()
            return
        # Benches key their passes under prefixes that extend this run's random one
        # ("<prefix>m0", "<prefix>push"): every key of this run starts with "{<prefix>".
        stale = list(client.scan_iter(match=f"{{{self.prefix}*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])


@contextmanager
def bench_redis(url: str | None) -> Iterator[BenchRedis]:
    if url:
        yield BenchRedis(url, owned=False, prefix="bench" + uuid.uuid4().hex[:8])
        return
    with (
        tempfile.TemporaryDirectory(prefix="wirewatch-bench-") as folder,
        EmbeddedRedis(Path(folder)) as server,
    ):
        yield BenchRedis(server.url, owned=True, prefix="bench")
