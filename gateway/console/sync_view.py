"""The catalogue sync page: each configured link's last run (from the store: any process's run), the runs started
here (counts, duration, refused items) and, for operators, "run incremental now" (:mod:`.sync_run`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server.keys import CLOCK, CONFIG, METRICS, MSGLOG, STORE
from gateway.sync.clients import sync_clients
from gateway.sync.engine import SyncSettings, run_sync
from gateway.sync.progress import Progress
from gateway.sync.report import SyncReport
from gateway.sync.status import read_statuses, sync_links
from gateway.transport import AiohttpTransport

from .audit import record_action
from .auth import may
from .keys import MAIN, SYNC_RUNS
from .render import page
from .security import ConsoleRefusal, require
from .sync_run import SyncRun

__all__ = ["sync_routes"]


def _links(request: web.Request) -> tuple[tuple[str, str], ...]:
    config = request.app[MAIN][CONFIG]
    return sync_links(config.raw, config.source, config.registry.platforms)


@page("sync.html")
async def sync_page(request: web.Request) -> dict[str, Any]:
    session = require(request, "viewer")
    return {
        "page": "sync",
        "statuses": await read_statuses(request.app[MAIN][STORE], _links(request)),
        "runs": request.app[SYNC_RUNS].recent(),
        "can_run": may(session.role, "operator"),
    }


async def run_now(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    form = await request.post()
    link = (str(form.get("source", "")), str(form.get("target", "")))
    if link not in _links(request):
        raise ConsoleRefusal(400, "BAD_QUERY", "the link must be one of [sync] links")
    main = request.app[MAIN]
    config = main[CONFIG]
    source, target = link

    async def start(sink: Any) -> SyncReport:
        delivery = config.delivery_settings()
        settings = SyncSettings(
            source=source, target=target, retry=delivery.per_destination.get(target, delivery.default)
        )
        transport = AiohttpTransport(limit_per_host=max(settings.concurrency * 2, 8))
        try:
            clients = sync_clients(config, source, target, transport, main[CLOCK])
            return await run_sync(settings, source=clients[0], target=clients[1], store=main[STORE],
                                  clock=main[CLOCK], metrics=main[METRICS], progress=sink)  # fmt: skip
        finally:
            await transport.close()

    async def done(run: SyncRun) -> None:
        outcome = "failed" if run.report is None else ("ok" if run.report.completed else "aborted")
        await record_action(main.get(MSGLOG), at=main[CLOCK](), who=session.name, role=session.role,
                            action="sync", target=f"{source}>{target}", outcome=outcome)  # fmt: skip

    await record_action(main.get(MSGLOG), at=main[CLOCK](), who=session.name, role=session.role,
                        action="sync", target=f"{source}>{target}", outcome="started")  # fmt: skip
    run = request.app[SYNC_RUNS].start(source, target, session.name, start, done)
    raise web.HTTPSeeOther(f"/console/sync/run/{run.id}")


@page("sync_run.html")
async def run_page(request: web.Request) -> dict[str, Any]:
    require(request, "viewer")
    run = request.app[SYNC_RUNS].get(request.match_info["run"])
    if run is None:
        raise ConsoleRefusal(404, "NOT_FOUND", "no such sync run on this instance")
    progress: Progress | None = run.progress
    return {
        "page": "sync",
        "run": run,
        "elapsed": (run.ended or request.app[MAIN][CLOCK]()) - run.started,
        "ratio": progress.ratio if progress is not None else None,
    }


def sync_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/sync", sync_page),
        web.post("/console/sync/run", run_now),
        web.get("/console/sync/run/{run}", run_page),
    ]
