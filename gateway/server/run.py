"""Serving the app: the plain listener and, when configured, the mutual-TLS listener, with a graceful stop.

On SIGTERM or SIGINT: stop accepting, let in-flight requests finish (``shutdown_timeout``), then the app's cleanup
stops the delivery workers after their in-flight deliveries, seals the message log and closes the store.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from gateway.config import Config

from .keys import SERVER_TLS

__all__ = ["serve_until_stopped", "start_sites"]


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
    runner, urls = await start_sites(app, config, host=host, port=port)
    for url in urls:
        announce(f"======== Running on {url} ========")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
