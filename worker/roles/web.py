"""The web role: the HTTP API, alert feeds, /healthz, /readyz and /metrics, served by uvicorn.

Life cycle: `WebRole.build(rt)` turns the settings into the API's context (auth, the alert index
the notifiers keep, stores) after refusing an exposed listener with no token; `run(stop)`
serves until stopped. The process idles when `web.enabled` is off. No burst mode.

Like the other roles it follows edits to its config files (and SIGHUP): the feeds, watchlists,
webhooks and `web.tokens` of a reloaded config are put into force while it serves; the settings
it reads once at start (the listen address, Redis, the alert index's bounds...) are logged as
needing a restart (`config_reload_needs_restart`) and otherwise left as they were.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from worker.config import Settings
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
        serve(self.ctx, stop)


def idle(rt: Runtime, stop: threading.Event) -> None:
    """The web process while `web.enabled` is off: it idles, so a Procfile that lists this
    process type neither stops nor opens a port nobody asked for."""
    rt.log.info("web_disabled", hint="set web.enabled (and web.tokens off loopback)")
    wait_for_stop(stop)
