"""The read-only pages: overview, message log (search, verify), catalogue sync and configuration."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server.keys import CLOCK, CONFIG, METRICS, MSGLOG, STORE
from gateway.sync.status import read_statuses, sync_links

from .audit import record_action
from .keys import MAIN
from .overview import overview_rows
from .redact import redacted_settings
from .render import page, render
from .security import ConsoleRefusal, require

__all__ = ["read_routes"]

MAX_CASE_NO = 64  # longer than any platform's case number (README §3: at most 32)


@page("overview.html")
async def overview(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    stats = await main[STORE].outbox_stats(main[CLOCK]())
    rows = overview_rows(main[CONFIG].registry.platforms, main[METRICS].registry, stats)
    return {"page": "overview", "rows": rows}


@page("log.html")
async def log_search(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    case_no = request.rel_url.query.get("case_no", "").strip()
    if len(case_no) > MAX_CASE_NO:
        raise ConsoleRefusal(400, "BAD_QUERY", f"a case number has at most {MAX_CASE_NO} characters")
    msglog = main.get(MSGLOG)
    entries = await msglog.search(case_no=case_no, limit=500) if msglog is not None and case_no else []
    return {"page": "msglog", "case_no": case_no, "entries": entries, "has_log": msglog is not None, "report": None}


async def log_verify(request: web.Request) -> web.Response:
    """Verify the whole chain and every seal; the result (first broken entry, if any) on the log page."""
    session = require(request, "viewer")
    main = request.app[MAIN]
    msglog = main.get(MSGLOG)
    if msglog is None:
        raise ConsoleRefusal(409, "NO_MESSAGE_LOG", "no message log is configured ([message_log])")
    report = await msglog.verify()
    await record_action(
        msglog,
        at=main[CLOCK](),
        who=session.name,
        role=session.role,
        action="verify",
        target="message-log",
        outcome="ok" if report.ok else "broken",
    )
    context = {"page": "msglog", "case_no": "", "entries": [], "has_log": True, "report": report}
    return render(request, "log.html", context)


@page("sync.html")
async def sync_page(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    config = main[CONFIG]
    links = sync_links(config.raw, config.source, config.registry.platforms)
    return {"page": "sync", "statuses": await read_statuses(main[STORE], links)}


@page("config.html")
async def config_page(request: web.Request) -> dict[str, Any]:
    config = request.app[MAIN][CONFIG]
    platforms = [(pid, p.dialect, p.settings.get("base_url", "")) for pid, p in config.registry.platforms.items()]
    return {
        "page": "config",
        "settings": redacted_settings(config.raw),
        "platforms": platforms,
        "source": config.source,
    }


def read_routes() -> list[web.RouteDef]:
    return [
        web.get("/console/", overview),
        web.get("/console/log", log_search),
        web.post("/console/log/verify", log_verify),
        web.get("/console/sync", sync_page),
        web.get("/console/config", config_page),
    ]
