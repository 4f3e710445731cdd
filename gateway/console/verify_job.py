""" "Verify chain" as a job of the serving process: started by a POST, watched by a page that reloads itself.

Why a job: verifying reads and hashes every entry and checks every seal, which takes long on a big log; the request
that asks for it returns at once and the browser polls the job's page (``<meta http-equiv="refresh">``: no script,
so the strict CSP stays as it is) until the report is there. The progress bar is indeterminate: the message log's
``verify`` reports no progress of its own, and a made-up percentage would be worse than none. Jobs live in the
instance that runs them (at most ``KEPT`` remembered); another instance answers "unknown job", and the operator
starts one there. One verification runs at a time per instance: a second request joins the running one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from gateway.msglog.api import VerifyReport

__all__ = ["KEPT", "VerifyJob", "VerifyJobs"]

log = logging.getLogger("gateway.console")
KEPT: Final = 20


@dataclass(slots=True)
class VerifyJob:
    id: str
    started: float
    who: str
    ended: float | None = None
    report: VerifyReport | None = None
    failed: bool = False


class VerifyJobs:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: OrderedDict[str, VerifyJob] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: str) -> VerifyJob | None:
        return self._jobs.get(job_id)

    def start(
        self, who: str, verify: Callable[[], Awaitable[VerifyReport]], done: Callable[[VerifyJob], Awaitable[None]]
    ) -> VerifyJob:
        """A running job (joined when one runs already), else a new one running ``verify`` then ``done``."""
        for job in self._jobs.values():
            if job.ended is None:
                return job
        job = VerifyJob(secrets.token_hex(8), self._clock(), who)
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT:
            self._jobs.popitem(last=False)

        async def run() -> None:
            try:
                job.report = await verify()
            except Exception:  # a storage failure: shown as a failed job, logged without data
                log.exception("console: message log verification failed")
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
