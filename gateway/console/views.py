"""The read-only pages: overview, catalogue sync and configuration (the message log's: :mod:`.msglog_view`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server.keys import CLOCK, CONFIG, METRICS, STORE
from gateway.sync.status import read_statuses, sync_links

from .keys import MAIN
from .overview import overview_rows
from .redact import redacted_settings
from .render import page

__all__ = ["read_routes"]


@page("overview.html")
async def overview(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    stats = await main[STORE].outbox_stats(main[CLOCK]())
    rows = overview_rows(main[CONFIG].registry.platforms, main[METRICS].registry, stats)
    return {"page": "overview", "rows": rows}


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
        web.get("/console/sync", sync_page),
        web.get("/console/config", config_page),
    ]
