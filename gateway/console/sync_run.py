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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.sync.progress import Progress
from gateway.sync.report import SyncReport

from .jobs import KEPT, JobBook, new_job_id

__all__ = ["KEPT", "SyncRun", "SyncRuns"]

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


class SyncRuns(JobBook[SyncRun]):
    def start(
        self, source: str, target: str, who: str, start: Start, done: Callable[[SyncRun], Awaitable[None]]
    ) -> SyncRun:
        """The link's running run (joined), else a new one: ``start(progress_sink)`` then ``done(run)``."""
        running = self.running(lambda r: (r.source, r.target) == (source, target))
        if running is not None:
            return running
        run = SyncRun(new_job_id(), source, target, who, self._clock())

        def sink(progress: Progress) -> None:
            run.progress = progress

        async def work() -> None:
            run.report = await start(sink)

        return self.launch(run, work, done, f"catalogue sync {source}>{target}")
