"""The console's application keys: the gateway app whose store, metrics and log it shows, and where it listens."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.msglog.atrest import AtRestKeys

from .history import History
from .sync_run import SyncRuns
from .verify_job import VerifyJobs

__all__ = ["CONSOLE_URL", "HISTORY", "LOG_KEYS", "MAIN", "SYNC_RUNS", "VERIFY_JOBS", "ConsoleAddress"]


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
#: the message-log verifications this instance runs or ran (:mod:`.verify_job`)
VERIFY_JOBS: web.AppKey[VerifyJobs] = web.AppKey("console_verify_jobs", VerifyJobs)
#: the last hour of each platform's counters, sampled by the console (:mod:`.history`)
HISTORY: web.AppKey[History] = web.AppKey("console_history", History)
#: the catalogue syncs started from this instance's console (:mod:`.sync_run`)
SYNC_RUNS: web.AppKey[SyncRuns] = web.AppKey("console_sync_runs", SyncRuns)
