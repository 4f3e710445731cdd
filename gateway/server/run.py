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
import gc
import logging
import resource
import signal
from collections.abc import Callable

from aiohttp import web

from gateway.config import Config
from gateway.errors import ConfigError

from .keys import METRICS, SERVER_TLS, WORKER
from .listener import MALFORMED_HTTP, ConnectionGuard, EdgeCounters, EdgeLimits, GuardedSite
from .malformed import EdgeLogger
from .reload import reload_config
from .shutdown import shutdown_budget

__all__ = ["FD_RESERVE", "check_descriptor_limit", "serve_until_stopped", "start_sites"]

FD_RESERVE = 128  # descriptors kept for the store, the message log, outbound calls and the listeners themselves


def check_descriptor_limit(
    config: Config, limits: tuple[int, int] | None = None, raise_soft: Callable[[int, int], None] | None = None
) -> None:
    """Make room for ``max_connections`` in the process's file-descriptor limit, or refuse to start.

    Issue 11 item 2: 20,000 idle connections took the gateway to its descriptor limit, and then nothing, not even
    /healthz, was answered. The connection cap only helps if it is below that limit: the soft limit is raised
    towards the hard one when it is too low (the common 1024 would not fit the default cap), and a hard limit that
    is too low is a configuration error naming ``server.max_connections``.
    """
    soft, hard = limits if limits is not None else resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = config.server.max_connections + FD_RESERVE
    if soft == resource.RLIM_INFINITY or wanted <= soft:
        return
    if hard != resource.RLIM_INFINITY and wanted > hard:
        raise ConfigError(
            config.source,
            "server.max_connections",
            f"{config.server.max_connections} connections need {wanted} file descriptors, the limit is {hard}",
            "raise the limit (ulimit -n, LimitNOFILE=) or lower max_connections",
        )
    new_soft = wanted if hard == resource.RLIM_INFINITY else hard
    (raise_soft or _set_descriptor_limit)(new_soft, hard)


def _set_descriptor_limit(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


log = logging.getLogger("gateway.server")


async def start_sites(
    app: web.Application,
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    tls_port: int | None = None,
    shutdown_timeout: float = 30.0,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, list[str]]:
    """Start the app's listeners, each behind one shared connection guard (``listener.py``: connection caps, the
    head deadline) with aiohttp's keep-alive timeout and a logger that turns malformed HTTP into one counted
    WARNING line (``malformed.py``); returns the runner and the listeners' base URLs (plain first)."""
    check_descriptor_limit(config)
    counters = EdgeCounters(app[METRICS].registry)
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=config.server.keepalive_timeout,
        logger=EdgeLogger(lambda: counters.refuse(MALFORMED_HTTP)),
    )
    await runner.setup()
    guard = ConnectionGuard(EdgeLimits.of(config.server), counters)
    bind = host or config.server.host
    # The mutual-TLS listener is bound first: once the plain one answers anything (/healthz included), every listener
    # is up. Bound the other way round, a probe could see the gateway healthy while its TLS port still refused.
    tls = app[SERVER_TLS]
    wanted = config.server.tls_port if tls_port is None else tls_port
    if tls is not None and wanted is not None:
        await GuardedSite(runner, guard, bind, wanted, ssl_context=tls, reuse_port=reuse_port).start()
    tls_addresses = list(runner.addresses)
    await GuardedSite(runner, guard, bind, config.server.port if port is None else port, reuse_port=reuse_port).start()
    plain_addresses = runner.addresses[len(tls_addresses) :]
    urls = [f"http://{bind}:{a[1]}" for a in plain_addresses] + [f"https://{bind}:{a[1]}" for a in tls_addresses]
    return runner, urls


def settle_heap() -> None:
    """Put what start-up built out of the cyclic collector's reach (``gc.freeze``), once the gateway listens.

    Why: the modules, the configuration, compiled mappings, keys and certificates live as long as the process, yet a
    full (oldest generation) collection walks every one of them, and it runs on the event loop: measured under the
    bench's half load, such a collection paused every request for 22-48 ms, which is the p99 of the whole run. After
    the freeze a full collection walks only what requests made since. Garbage is collected first, so none is kept.
    """
    gc.collect()
    gc.freeze()


async def serve_until_stopped(
    app: web.Application,
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] = print,
    reuse_port: bool = False,
) -> None:
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
    runner, urls = await start_sites(
        app, config, host=host, port=port, shutdown_timeout=shutdown_budget(grace), reuse_port=reuse_port
    )
    for url in urls:
        announce(f"======== Running on {url} ========")
    settle_heap()
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        started = loop.time()
        log.info(
            "stopping: in-flight work has %.1f s of the %.1f s grace",
            shutdown_budget(grace),
            grace,
            extra={"event": "shutdown", "grace": grace},
        )
        worker = app.get(WORKER)
        draining = asyncio.ensure_future(worker.stop(grace=shutdown_budget(grace))) if worker is not None else None
        try:
            await asyncio.wait_for(runner.cleanup(), timeout=grace)
        except TimeoutError:
            log.error(
                "closing overran the %.1f s shutdown grace; exiting without waiting further",
                grace,
                extra={"event": "shutdown", "grace": grace},
            )
        if draining is not None and not draining.done():
            draining.cancel()
        log.info("stopped in %.1f s", loop.time() - started, extra={"event": "shutdown"})
