"""The web role: the HTTP API, alert feeds, /healthz, /readyz and /metrics, served by uvicorn.

Life cycle: `WebRole.build(rt)` turns the settings into the API's context (auth, the alert index
the notifiers keep, stores) after refusing an exposed listener with no token; `run(stop)`
serves until stopped. The process idles when `web.enabled` is off. No burst mode.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

import uvicorn

from worker.config.models import listen_address
from worker.errors import ConfigError
from worker.observability.resilience import wait_for_stop
from worker.roles.runtime import Runtime
from worker.web.app import create_app
from worker.web.context import WebContext


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


def serve(ctx: WebContext, stop: threading.Event) -> None:
    host, port = check_exposure(ctx)
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
    ctx.log.info("web_stopped")


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
