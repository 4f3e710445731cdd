""" "Run incremental now": a catalogue sync started from the console, run in the serving process, watched live.

The run is the one ``gateway sync --from S --to T`` makes (:func:`gateway.sync.engine.run_sync`, incremental: from
the link's checkpoint), with the serving gateway's store and metrics, so ``/metrics`` and the sync page show it as
it goes; its progress (items handled of an estimated total) is what the engine reports to its progress sink. The
page of a run reloads itself every second (no script) until the report is there: counts, duration, refused items.

Runs live in the instance that runs them (the last ``KEPT``); one link runs once at a time per instance (a second
click joins the running one). The link's status in the store (:mod:`gateway.sync.status`) is written by the run
itself, as for a CLI run, so every instance's sync page shows its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from gateway.sync.progress import Progress
from gateway.sync.report import SyncReport

__all__ = ["KEPT", "SyncRun", "SyncRuns"]

log = logging.getLogger("gateway.console")
KEPT: Final = 20

Start = Callable[[Callable[[Progress], None]], Awaitable[SyncReport]]


@dataclass(slots=True)
class SyncRun:
    id: str
    source: str
    target: str
    who: str
    started: float
    progress: Progress | None = None
    report: SyncReport | None = None
    ended: float | None = None
    failed: bool = False


class SyncRuns:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._runs: OrderedDict[str, SyncRun] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, run_id: str) -> SyncRun | None:
        return self._runs.get(run_id)

    def recent(self) -> list[SyncRun]:
        return list(reversed(self._runs.values()))

    def start(
        self, source: str, target: str, who: str, start: Start, done: Callable[[SyncRun], Awaitable[None]]
    ) -> SyncRun:
        """The link's running run (joined), else a new one: ``start(progress_sink)`` then ``done(run)``."""
        for run in self._runs.values():
            if run.ended is None and (run.source, run.target) == (source, target):
                return run
        run = SyncRun(secrets.token_hex(8), source, target, who, self._clock())
        self._runs[run.id] = run
        while len(self._runs) > KEPT:
            self._runs.popitem(last=False)

        def sink(progress: Progress) -> None:
            run.progress = progress

        async def go() -> None:
            try:
                run.report = await start(sink)
            except Exception:  # a store failure: the checkpoint stands; shown as failed, logged without data
                log.exception("console: catalogue sync failed", extra={"source": source, "target": target})
                run.failed = True
            run.ended = self._clock()
            await done(run)

        task = asyncio.create_task(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
