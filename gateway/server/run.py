"""Serving the app: the plain listener and, when configured, the mutual-TLS listener, with a graceful stop.

On SIGTERM or SIGINT, bounded by ``[server] shutdown_grace`` (see shutdown.py for how it is spent): the delivery
worker stops claiming at once and its sends in flight run on while the listeners stop accepting and the partner
requests in flight finish; at the budget both are cancelled, the worker hands every claim it still holds back to
the outbox (due at once for another instance), then the app's cleanup seals the message log and closes the store.
If closing itself overruns the grace, the process stops waiting and exits anyway (everything acknowledged is
already committed). On SIGHUP the configuration file is read again and what may change at run time is applied
(reload.py); a file that does not pass is logged and the running configuration stays.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web

from gateway.config import Config

from .keys import SERVER_TLS, WORKER
from .reload import reload_config
from .shutdown import shutdown_budget

__all__ = ["serve_until_stopped", "start_sites"]

log = logging.getLogger("gateway.server")


async def start_sites(app: web.Application, config: Config, *, host: str | None = None, port: int | None = None,
                      tls_port: int | None = None, shutdown_timeout: float = 30.0) -> tuple[web.AppRunner, list[str]]:
    """Start the app's listeners; returns the runner and their base URLs (plain first)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    bind = host or config.server.host
    await web.TCPSite(runner, bind, config.server.port if port is None else port).start()
    tls = app[SERVER_TLS]
    wanted = config.server.tls_port if tls_port is None else tls_port
    if tls is not None and wanted is not None:
        await web.TCPSite(runner, bind, wanted, ssl_context=tls).start()
    urls: list[str] = []
    for address in runner.addresses:
        bound_port = address[1]
        scheme = "https" if urls else "http"
        urls.append(f"{scheme}://{bind}:{bound_port}")
    return runner, urls


async def serve_until_stopped(app: web.Application, config: Config, *, host: str | None = None,
                              port: int | None = None, announce: Callable[[str], None] = print) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    effective = config  # the reloadable settings in force (reload.py)

    def reload() -> None:
        nonlocal effective
        try:
            effective, _ = reload_config(app, config, effective)
        except Exception:  # a reload must never take the process down
            log.exception("configuration reload failed; the running configuration stays")

    loop.add_signal_handler(signal.SIGHUP, reload)
    grace = config.server.shutdown_grace
    runner, urls = await start_sites(app, config, host=host, port=port, shutdown_timeout=shutdown_budget(grace))
    for url in urls:
        announce(f"======== Running on {url} ========")
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        started = loop.time()
        log.info("stopping: in-flight work has %.1f s of the %.1f s grace", shutdown_budget(grace), grace,
                 extra={"event": "shutdown", "grace": grace})
        worker = app.get(WORKER)
        draining = asyncio.ensure_future(worker.stop(grace=shutdown_budget(grace))) if worker is not None else None
        try:
            await asyncio.wait_for(runner.cleanup(), timeout=grace)
        except TimeoutError:
            log.error("closing overran the %.1f s shutdown grace; exiting without waiting further", grace,
                      extra={"event": "shutdown", "grace": grace})
        if draining is not None and not draining.done():
            draining.cancel()
        log.info("stopped in %.1f s", loop.time() - started, extra={"event": "shutdown"})
