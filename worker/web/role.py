"""`wirewatch web`: serve the API with uvicorn and keep the alert index fed and trimmed."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

import uvicorn

from worker.config.models import listen_address
from worker.errors import ConfigError
from worker.observability.resilience import keep_running, wait_for_stop
from worker.web.alert_index import AlertIndex
from worker.web.app import create_app
from worker.web.context import WebContext

_INDEX_BATCH = 500
_INDEX_BLOCK_MS = 1000
_TRIM_EVERY_S = 60.0


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


def feed_index(index: AlertIndex, instance: str, stop: threading.Event, log: Any) -> None:
    consumer = index.consumer(instance)
    trimmed_at = [0.0]

    def step() -> None:
        index.take(consumer, _INDEX_BATCH, _INDEX_BLOCK_MS)
        now = index.clock()
        if now - trimmed_at[0] >= _TRIM_EVERY_S:
            trimmed_at[0] = now
            index.trim()

    keep_running(step, stop, log, "alert-index")


def serve(ctx: WebContext, stop: threading.Event, instance: str) -> None:
    host, port = check_exposure(ctx)
    indexer = threading.Thread(
        target=feed_index,
        args=(ctx.index, instance, stop, ctx.log),
        name="alert-index",
        daemon=True,
    )
    indexer.start()
    config = uvicorn.Config(
        create_app(ctx),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    ctx.log.info("web_started", listen=ctx.settings.web.listen, open=ctx.auth.open)
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise ConfigError([f"web.listen: could not serve on {ctx.settings.web.listen}"])
    server.should_exit = True
    thread.join(timeout=15)
    indexer.join(timeout=5)
    ctx.log.info("web_stopped")


def run_web(rt: Any, stop: threading.Event) -> None:
    """Serve until `stop`; idle when `web.enabled` is off, so a Procfile that lists this process
    type neither stops (Procfile runners stop everything when one process ends) nor opens a
    port nobody asked for."""
    from worker.service import consumer_name

    if not rt.settings.web.enabled:
        rt.log.info("web_disabled", hint="set web.enabled (and web.tokens off loopback)")
        wait_for_stop(stop)
        return
    ctx = WebContext.build(rt.settings, rt.client, rt.keys, rt.log, rt.redis_url)
    serve(ctx, stop, consumer_name("web"))
