"""The roles: one module per process type, each with its whole life cycle.

scheduler.py, worker.py, notifier.py and websub.py each hold a `<Role>Role` with
`build(rt)` (settings -> the role's objects, through the shared `Runtime` of runtime.py),
`run(stop)` (the long-running loop) and, where burst mode applies, `run_once()`. burst.py chains
them for `wirewatch run --once`; supervisor.py runs them as child processes for `wirewatch run`.
"""
