""" "Verify chain" as a job of the serving process: started by a POST, watched by a page that reloads itself.

Why a job: verifying reads and hashes every entry and checks every seal, which takes long on a big log; the request
that asks for it returns at once and the browser polls the job's page (``<meta http-equiv="refresh">``: no script,
so the strict CSP stays as it is) until the report is there. The progress bar is indeterminate: the message log's
``verify`` reports no progress of its own, and a made-up percentage would be worse than none. Jobs live in the
instance that runs them (at most ``KEPT`` remembered); another instance answers "unknown job", and the operator
starts one there. One verification runs at a time per instance: a second request joins the running one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.msglog.api import VerifyReport

from .jobs import KEPT, JobBook, new_job_id

__all__ = ["KEPT", "VerifyJob", "VerifyJobs"]


@dataclass(slots=True)
class VerifyJob:
    id: str
    started: float
    who: str
    ended: float | None = None
    report: VerifyReport | None = None
    failed: bool = False


class VerifyJobs(JobBook[VerifyJob]):
    def start(
        self, who: str, verify: Callable[[], Awaitable[VerifyReport]], done: Callable[[VerifyJob], Awaitable[None]]
    ) -> VerifyJob:
        """A running job (joined when one runs already), else a new one running ``verify`` then ``done``."""
        running = self.running(lambda _: True)
        if running is not None:
            return running
        job = VerifyJob(new_job_id(), self._clock(), who)

        async def work() -> None:
            job.report = await verify()

        return self.launch(job, work, done, "message log verification")
