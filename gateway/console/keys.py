"""The console's application keys: the gateway app whose store, metrics and log it shows, and where it listens."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.msglog.atrest import AtRestKeys

__all__ = ["CONSOLE_URL", "LOG_KEYS", "MAIN", "ConsoleAddress"]


@dataclass(slots=True)
class ConsoleAddress:
    """Where the console listens, filled in when its listener has started (the app is frozen by then)."""

    url: str | None = None


#: the gateway application (its STORE, METRICS, MSGLOG, CONFIG, CLOCK), on the console application
MAIN: web.AppKey[web.Application] = web.AppKey("console_main", web.Application)
#: on the gateway application when a console is configured: its base URL ``http://host:port/console/`` once it listens
CONSOLE_URL: web.AppKey[ConsoleAddress] = web.AppKey("console_url", ConsoleAddress)
#: the message log's at-rest keys (to show a message's signed payload, masked), when a message log is configured
LOG_KEYS: web.AppKey[AtRestKeys | None] = web.AppKey("console_log_keys")
