"""The console application and its listener.

``create_console(main)`` builds the console as an application of its own over the gateway application ``main``
(whose store, metrics, message log, configuration and clock it shows), served on its own listener
(``[console] host/port``; off when no port is set): an operator's browser never reaches the partner endpoints, and
a partner never reaches the console. :func:`console_listener` is the cleanup context ``create_app`` adds when a
console port is configured; it starts after the store is open and records the console's URL in ``main[CONSOLE_URL]``
(port 0 picks a free port).

The listener holds its own small connection caps (``MAX_CONNECTIONS``) and the server's head deadline, bodies are at
most ``MAX_BODY`` bytes (forms only), and each request runs within ``[server] request_timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final

import aiohttp_jinja2
import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.config import ConsoleSettings
from gateway.msglog_cli import data_keys
from gateway.server.keys import CLOCK, CONFIG, METRICS, STORE
from gateway.server.limits import time_limit_middleware
from gateway.server.listener import ConnectionGuard, EdgeCounters, EdgeLimits, GuardedSite

from .accounts import accounts_routes
from .auth import LoginThrottle, SessionBook
from .bulk import bulk_routes
from .history import History
from .keys import CONSOLE_URL, HISTORY, LOG_KEYS, MAIN, SYNC_RUNS, VERIFY_JOBS, ConsoleAddress
from .licences_view import licences_routes
from .login import login_routes
from .login_state import BOOK, THROTTLE
from .msglog_view import msglog_routes
from .outbox import outbox_routes
from .render import render, when
from .security import (
    ConsoleRefusal,
    RefusalCounter,
    csrf_middleware,
    headers_middleware,
    refusal_middleware,
    session_middleware,
)
from .sync_run import SyncRuns
from .sync_view import sync_routes
from .verify_job import VerifyJobs
from .views import read_routes

__all__ = ["MAX_BODY", "MAX_CONNECTIONS", "console_listener", "create_console"]

HERE: Final = Path(__file__).resolve().parent
MAX_BODY: Final = 64 * 1024
MAX_CONNECTIONS: Final = 64
MAX_CONNECTIONS_PER_CLIENT: Final = 16


def _render_refusal(request: web.Request, refusal: ConsoleRefusal) -> web.Response:
    return render(request, "error.html", {"page": "error", "refusal": refusal}, status=refusal.status)


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/")


async def _sampling(app: web.Application) -> AsyncIterator[None]:
    """The overview's history: sampled while the console serves."""
    task = asyncio.create_task(app[HISTORY].run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def create_console(
    main: web.Application, settings: ConsoleSettings, *, clock: Callable[[], float] | None = None
) -> web.Application:
    """The console over ``main`` (a gateway application from ``create_app``, started or about to be)."""
    now = clock or main[CLOCK]
    config = main[CONFIG]
    refusals = RefusalCounter(main[METRICS].registry)
    book = SessionBook(lambda: main[STORE], settings.session_minutes * 60, now)
    app = web.Application(
        middlewares=[
            headers_middleware,
            refusal_middleware(refusals, _render_refusal),
            time_limit_middleware(config.server.request_timeout),
            session_middleware(book),
            csrf_middleware,
        ],
        client_max_size=MAX_BODY,
    )
    app[MAIN] = main
    app[VERIFY_JOBS] = jobs = VerifyJobs(now)
    app.on_cleanup.append(lambda _: jobs.close())
    app[SYNC_RUNS] = runs = SyncRuns(now)
    app.on_cleanup.append(lambda _: runs.close())
    app[HISTORY] = History(main[METRICS].registry, now)
    app.cleanup_ctx.append(_sampling)
    app[LOG_KEYS] = data_keys(config) if config.message_log is not None else None
    app[BOOK] = book
    app[THROTTLE] = LoginThrottle(settings.login_attempts, settings.lockout_seconds, now)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
    )
    env.filters["when"] = when
    app.router.add_get("/", _root)
    routes = login_routes() + bulk_routes() + outbox_routes() + read_routes() + msglog_routes() + sync_routes()
    routes += licences_routes() + accounts_routes()
    app.router.add_routes(routes)
    app.router.add_static("/console/static/", HERE / "static", append_version=False)
    return app


def console_listener(
    main: web.Application, settings: ConsoleSettings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context that serves the console of ``main`` on ``settings``' port (add it to ``main``)."""
    address = main[CONSOLE_URL] = ConsoleAddress()

    async def serve(main: web.Application) -> AsyncIterator[None]:
        port = settings.port
        if port is None:
            yield
            return
        console = create_console(main, settings)
        server = main[CONFIG].server
        runner = web.AppRunner(
            console, access_log=None, keepalive_timeout=server.keepalive_timeout, shutdown_timeout=5.0
        )
        await runner.setup()
        limits = EdgeLimits(server.header_timeout, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT)
        guard = ConnectionGuard(limits, EdgeCounters(CollectorRegistry()))  # the gateway's edge gauges stay its own
        site = GuardedSite(runner, guard, settings.host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        address.url = f"http://{settings.host}:{bound}/console/"
        try:
            yield
        finally:
            address.url = None
            await runner.cleanup()

    return serve
