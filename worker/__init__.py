"""wirewatch: feeds in, deduplicated keyword alerts out as signed webhooks.

`worker/` is the whole wirewatch package; the worker *role* (queued items to alerts) is
`worker/roles/worker.py` plus the stages in `worker/pipeline/`. docs/architecture.md maps the
processes, the streams and keys between them, and the package layers.
"""

__version__ = "0.1.0"
