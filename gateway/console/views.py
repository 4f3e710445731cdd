"""The read-only pages: overview and configuration (the message log's: :mod:`.msglog_view`; sync: :mod:`.sync_view`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.server.keys import CLOCK, CONFIG, METRICS, STORE

from .i18n import translate
from .keys import HISTORY, MAIN
from .overview import overview_rows
from .redact import redacted_settings
from .render import current_lang, page

__all__ = ["read_routes"]


@page("overview.html")
async def overview(request: web.Request) -> dict[str, Any]:
    main = request.app[MAIN]
    history = request.app[HISTORY]
    now = history.sample()  # this very moment, so the page equals /metrics now
    stats = await main[STORE].outbox_stats(main[CLOCK]())
    title = translate(current_lang(request), "chart_title")
    rows = overview_rows(main[CONFIG].registry.platforms, main[METRICS].registry, stats, history, now, title)
    return {"page": "overview", "rows": rows}


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
        web.get("/console/config", config_page),
    ]
