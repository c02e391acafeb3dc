"""The web role: the HTTP API, alert feeds, /healthz, /readyz and /metrics, served by uvicorn.

Life cycle: `WebRole.build(rt)` turns the settings into the API's context (auth, the alert index
the notifiers keep, stores) after refusing an exposed listener with no token; `run(stop)`
serves until stopped. The process idles when `web.enabled` is off. No burst mode.

With `web.workers` above 1 this process binds the port once and starts that many worker
processes that accept on the same socket, each with its own app and Redis clients (the API
keeps its state in Redis, so any of them can answer any request), and restarts one that dies.
A worker process exits when this one is gone, so none is left holding the port.

Like the other roles it follows edits to its config files (and SIGHUP): the feeds, watchlists,
webhooks and `web.tokens` of a reloaded config are put into force while it serves; the settings
it reads once at start (the listen address, Redis, the alert index's bounds...) are logged as
needing a restart (`config_reload_needs_restart`) and otherwise left as they were.
Each worker process follows the edits itself, as this one does.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from worker.config import Settings, load_config
from worker.config.models import listen_address
from worker.config.watch import ConfigFileWatcher
from worker.errors import ConfigError
from worker.observability.logging import configure_logging, get_logger
from worker.observability.resilience import wait_for_stop
from worker.queue.connection import open_client
from worker.queue.keys import Keys
from worker.roles.runtime import Runtime
from worker.web.app import served_app
from worker.web.context import WebContext

LISTEN_BACKLOG = 2048
QUICK_EXIT_S = 10.0  # a worker process that dies sooner is restarted after a growing pause
MAX_RESTART_PAUSE_S = 30.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(ctx: WebContext) -> tuple[str, int]:
    """The (host, port) to listen on; a ConfigError when it is off loopback with no token."""
    host, port = listen_address(ctx.settings.web.listen)
    if ctx.auth.open and not is_loopback(host):
        raise ConfigError(
            [
                f"web.listen: {ctx.settings.web.listen} is reachable from other machines but "
                "web.tokens is empty; add a token (web.tokens: [{id, token: ${VAR}, scope}]) "
                "or listen on 127.0.0.1"
            ]
        )
    return host, port


def uvicorn_config(app: Any, **where: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_level="warning", access_log=False, log_config=None, lifespan="on", **where
    )


def serve(ctx: WebContext, stop: threading.Event, config_path: Path | None = None) -> None:
    host, port = check_exposure(ctx)
    if ctx.settings.web.workers > 1:
        serve_processes(ctx, listening_socket(ctx, host, port), stop, config_path)
        return
    server = uvicorn.Server(uvicorn_config(served_app(ctx), host=host, port=port))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    ctx.log.info("web_started", listen=ctx.settings.web.listen, open=ctx.auth.open)
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise ConfigError([f"web.listen: could not serve on {ctx.settings.web.listen}"])
    server.should_exit = True
    thread.join(timeout=15)
    ctx.log.info("web_stopped")


# What the web role reads once at start (besides `web` itself, but for its tokens): a change to
# one of them needs a restart.
FIXED_SETTINGS = ("redis_url", "redis_prefix", "data_dir", "archive", "websub", "log")
_LIVE_WEB_SETTINGS = {"tokens"}


def fixed_settings_changed(running: Settings, loaded: Settings) -> list[str]:
    """Names of the start-time settings that differ (names only: values may hold secrets)."""
    changed = [name for name in FIXED_SETTINGS if getattr(running, name) != getattr(loaded, name)]
    for name in type(running.web).model_fields:
        if name not in _LIVE_WEB_SETTINGS and getattr(running.web, name) != getattr(
            loaded.web, name
        ):
            changed.append(f"web.{name}")
    return changed


def live_settings(running: Settings, loaded: Settings) -> Settings:
    """The running settings with the loaded config's feeds, watchlists, webhooks and tokens."""
    web = running.web.model_copy(update={"tokens": loaded.web.tokens})
    update = {
        "feeds": loaded.feeds,
        "watchlists": loaded.watchlists,
        "webhooks": loaded.webhooks,
        "web": web,
    }
    return running.model_copy(update=update)


def config_applier(ctx: WebContext, log: Any, path: Path | None) -> Callable[[Settings], None]:
    """What the web role's config watcher applies. An edit that would leave an exposed listener
    with no token is refused as a whole (the tokens in force stay), as it is at start."""

    def apply(loaded: Settings) -> None:
        running = ctx.settings
        host, _port = listen_address(running.web.listen)
        if not loaded.web.tokens and not is_loopback(host):
            raise ConfigError(
                [f"web.tokens: empty while web.listen {running.web.listen} is exposed; kept"]
            )
        fixed = fixed_settings_changed(running, loaded)
        if fixed:
            log.warning("config_reload_needs_restart", config=str(path), settings=fixed)
        # Tokens first: a token removed from the config must not outlive the reload by a page.
        ctx.auth.replace_tokens(loaded.web.tokens)
        ctx.settings = live_settings(running, loaded)  # one assignment; requests read it whole
        log.info(
            "web_config_reloaded",
            config=str(path),
            feeds=len(loaded.feeds),
            watchlists=len(loaded.watchlists),
            webhooks=len(loaded.webhooks),
            tokens=len(loaded.web.tokens),
        )

    return apply


def listening_socket(ctx: WebContext, host: str, port: int) -> socket.socket:
    """The port, bound once here: the worker processes accept on this one socket, and a port
    in use is one clear error rather than one per worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        listen = ctx.settings.web.listen
        raise ConfigError([f"web.listen: could not serve on {listen}: {exc.strerror}"]) from None
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


@dataclass
class WorkerSlot:
    """One of the `web.workers` processes, and when it may be started again after dying."""

    number: int
    process: Any = None
    started_at: float = 0.0
    pause_s: float = 0.0
    not_before: float = 0.0


@dataclass
class WorkerProcesses:
    ctx: WebContext
    sock: socket.socket
    slots: list[WorkerSlot] = field(default_factory=list)
    config_path: Path | None = None  # each worker process follows edits to it

    def start(self, slot: WorkerSlot) -> None:
        settings, url = self.ctx.settings, self.ctx.redis_url
        process = multiprocessing.get_context("spawn").Process(
            target=serve_worker_process,
            args=(settings, url, self.sock, os.getpid(), self.config_path),
            name=f"wirewatch-web-{slot.number}",
        )
        process.start()
        slot.process, slot.started_at = process, time.monotonic()

    def keep_alive(self) -> None:
        """Start again each worker process that died (a pause first if it died young)."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is not None and not slot.process.is_alive():
                lived = now - slot.started_at
                slot.pause_s = (
                    min(MAX_RESTART_PAUSE_S, max(1.0, 2 * slot.pause_s))
                    if lived < QUICK_EXIT_S
                    else 0.0
                )
                slot.not_before = now + slot.pause_s
                self.ctx.log.warning(
                    "web_worker_exited",
                    worker=slot.number,
                    pid=slot.process.pid,
                    exitcode=slot.process.exitcode,
                    restart_in=slot.pause_s,
                )
                slot.process = None
            if slot.process is None and now >= slot.not_before:
                self.start(slot)

    def stop(self) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL what is left."""
        running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            process.terminate()
        for process in running:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()


def serve_processes(
    ctx: WebContext, sock: socket.socket, stop: threading.Event, config_path: Path | None
) -> None:
    count = ctx.settings.web.workers
    workers = WorkerProcesses(ctx, sock, [WorkerSlot(n) for n in range(count)], config_path)
    try:
        for slot in workers.slots:
            workers.start(slot)
        listen = ctx.settings.web.listen
        ctx.log.info("web_started", listen=listen, open=ctx.auth.open, workers=count)
        while not stop.wait(0.5):
            workers.keep_alive()
    finally:
        workers.stop()
        sock.close()
    ctx.log.info("web_stopped")


def serve_worker_process(
    settings: Settings,
    redis_url: str,
    sock: socket.socket,
    parent_pid: int,
    config_path: Path | None,
) -> None:
    """A `web.workers` process (spawned): its own Redis clients and app, on the shared socket.
    No metrics reporter here: the API's requests count nothing in the role metrics (the parent
    process runs the role's reporter, as every role process does)."""
    configure_logging(settings.log.level, settings.log.format, role="web")
    client = open_client(redis_url)
    ctx = WebContext.build(settings, client, Keys(settings.redis_prefix), get_logger(), redis_url)
    server = uvicorn.Server(uvicorn_config(served_app(ctx)))

    def exit_with_parent() -> None:
        # Were the parent SIGKILLed, this process would keep the port from its successor.
        while not server.should_exit:
            if os.getppid() != parent_pid:
                server.should_exit = True
            time.sleep(1.0)

    threading.Thread(target=exit_with_parent, name="parent-watch", daemon=True).start()
    stop_following = threading.Event()
    if config_path is not None:
        follow_edits_in_worker_process(ctx, config_path, stop_following)
    try:
        server.run(sockets=[sock])
    finally:
        stop_following.set()
        client.close()


def follow_edits_in_worker_process(ctx: WebContext, path: Path, stop: threading.Event) -> None:
    """A worker process's own config watcher. It has no signature of the files as they were
    when its settings were read (its parent's may be newer), so it reloads once at start."""
    watcher = ConfigFileWatcher(
        path,
        lambda: load_config(path, os.environ),
        config_applier(ctx, ctx.log, path),
        ctx.log,
        (),
    )
    threading.Thread(target=watcher.run, args=(stop,), name="config-watch", daemon=True).start()


@dataclass
class WebRole:
    ctx: WebContext
    rt: Runtime | None = None

    @classmethod
    def build(cls, rt: Runtime) -> WebRole:
        ctx = WebContext.build(rt.settings, rt.client, rt.keys, rt.log, rt.redis_url)
        return cls(ctx, rt)

    def run(self, stop: threading.Event) -> None:
        if self.rt is not None:
            applier = config_applier(self.ctx, self.rt.log, self.rt.config_path)
            self.rt.follow_config(lambda settings: settings, applier, stop)
        serve(self.ctx, stop, self.rt.config_path if self.rt is not None else None)


def idle(rt: Runtime, stop: threading.Event) -> None:
    """The web process while `web.enabled` is off: it idles, so a Procfile that lists this
    process type neither stops nor opens a port nobody asked for."""
    rt.log.info("web_disabled", hint="set web.enabled (and web.tokens off loopback)")
    wait_for_stop(stop)
