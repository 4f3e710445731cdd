"""Background jobs of the serving process, as the console starts and watches them (verify chain, run a sync).

A job is started by a POST and watched by a page that reloads itself until it ended. The book remembers the last
``KEPT`` jobs of this instance (another instance answers "unknown job"), keeps a reference to each running task
(asyncio holds tasks weakly) and cancels them on close. A job that raises is marked failed and logged without data:
what a job handles (log entries, catalogue items) never goes into the log line.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final, Generic, Protocol, TypeVar

__all__ = ["KEPT", "BackgroundJob", "JobBook", "new_job_id"]

log = logging.getLogger("gateway.console")

KEPT: Final = 20


class BackgroundJob(Protocol):
    id: str
    ended: float | None
    failed: bool


J = TypeVar("J", bound=BackgroundJob)


def new_job_id() -> str:
    return secrets.token_hex(8)


class JobBook(Generic[J]):
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: OrderedDict[str, J] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> J | None:
        return self._jobs.get(job_id)

    def recent(self) -> list[J]:
        return list(reversed(self._jobs.values()))

    def running(self, same: Callable[[J], bool]) -> J | None:
        """A job still running for which ``same`` holds: a second request joins it instead of starting another."""
        return next((job for job in self._jobs.values() if job.ended is None and same(job)), None)

    def launch(self, job: J, work: Callable[[], Awaitable[None]], done: Callable[[J], Awaitable[None]], what: str) -> J:
        """Remember ``job`` and run ``work`` (which fills in its result), then mark it ended and call ``done``."""
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT:
            self._jobs.popitem(last=False)

        async def run() -> None:
            try:
                await work()
            except Exception:  # a storage failure: shown as a failed job, logged without data
                log.exception("console: %s failed", what)
                job.failed = True
            job.ended = self._clock()
            await done(job)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
