"""The article archive: storage (SQLite or PostgreSQL), the archiver role, search, back-test and
spike alerts. See docs/archive.md.

Only the settings are imported here: `worker.config` needs them, and everything else (the
pipeline, the rules engine, database drivers) is imported by the module that uses it.
"""

from worker.config.archive import ArchiveConfig, SpikeConfig

__all__ = ["ArchiveConfig", "SpikeConfig"]
