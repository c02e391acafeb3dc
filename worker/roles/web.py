"""The web role: the HTTP API, alert feeds, /healthz, /readyz and /metrics, served by uvicorn.

Life cycle: `WebRole.build(rt)` turns the settings into the API's context (auth, the alert index
the notifiers keep, stores) after refusing an exposed listener with no token; `run(stop)`
serves until stopped. The process idles when `web.enabled` is off. No burst mode.

With `web.workers` above 1 this process binds the port once and starts that many worker
processes that accept on the same socket, each with its own app and Redis clients (the API
keeps its state in Redis, so any of them can answer any request), and restarts one that dies.
A worker process exits when this one is gone, so none is left holding the port.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from worker.config import Settings
from worker.config.models import listen_address
from worker.errors import ConfigError
from worker.observability.logging import configure_logging, get_logger
from worker.observability.resilience import wait_for_stop
from worker.queue.connection import open_client
from worker.queue.keys import Keys
from worker.roles.runtime import Runtime
from worker.web.app import create_app
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


def serve(ctx: WebContext, stop: threading.Event) -> None:
    host, port = check_exposure(ctx)
    if ctx.settings.web.workers > 1:
        serve_processes(ctx, listening_socket(ctx, host, port), stop)
        return
    server = uvicorn.Server(uvicorn_config(create_app(ctx), host=host, port=port))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    ctx.log.info("web_started", listen=ctx.settings.web.listen, open=ctx.auth.open)
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise ConfigError([f"web.listen: could not serve on {ctx.settings.web.listen}"])
    server.should_exit = True
    thread.join(timeout=15)
    ctx.log.info("web_stopped")


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

    def start(self, slot: WorkerSlot) -> None:
        settings, url = self.ctx.settings, self.ctx.redis_url
        process = multiprocessing.get_context("spawn").Process(
            target=serve_worker_process,
            args=(settings, url, self.sock, os.getpid()),
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


def serve_processes(ctx: WebContext, sock: socket.socket, stop: threading.Event) -> None:
    count = ctx.settings.web.workers
    workers = WorkerProcesses(ctx, sock, [WorkerSlot(n) for n in range(count)])
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
    settings: Settings, redis_url: str, sock: socket.socket, parent_pid: int
) -> None:
    """A `web.workers` process (spawned): its own Redis clients and app, on the shared socket.
    No metrics reporter here: the API's requests count nothing in the role metrics (the parent
    process runs the role's reporter, as every role process does)."""
    configure_logging(settings.log.level, settings.log.format, role="web")
    client = open_client(redis_url)
    ctx = WebContext.build(settings, client, Keys(settings.redis_prefix), get_logger(), redis_url)
    server = uvicorn.Server(uvicorn_config(create_app(ctx)))

    def exit_with_parent() -> None:
        # Were the parent SIGKILLed, this process would keep the port from its successor.
        while not server.should_exit:
            if os.getppid() != parent_pid:
                server.should_exit = True
            time.sleep(1.0)

    threading.Thread(target=exit_with_parent, name="parent-watch", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        client.close()


@dataclass
class WebRole:
    ctx: WebContext

    @classmethod
    def build(cls, rt: Runtime) -> WebRole:
        return cls(WebContext.build(rt.settings, rt.client, rt.keys, rt.log, rt.redis_url))

    def run(self, stop: threading.Event) -> None:
        serve(self.ctx, stop)


def idle(rt: Runtime, stop: threading.Event) -> None:
    """The web process while `web.enabled` is off: it idles, so a Procfile that lists this
    process type neither stops nor opens a port nobody asked for."""
    rt.log.info("web_disabled", hint="set web.enabled (and web.tokens off loopback)")
    wait_for_stop(stop)
