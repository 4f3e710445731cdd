"""The console's background job book (verify chain, run a sync): a job that raises is ended as failed and handed
to ``done``; a second start joins the running job; only the last KEPT jobs are remembered; close cancels."""

from __future__ import annotations

import asyncio

import pytest

from gateway.console.jobs import KEPT
from gateway.console.verify_job import VerifyJob, VerifyJobs
from gateway.msglog.api import VerifyReport


async def test_a_failing_job_ends_failed_a_second_start_joins_and_the_book_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = VerifyJobs(lambda: 100.0)
    release = asyncio.Event()
    finished: list[VerifyJob] = []

    async def broken() -> VerifyReport:
        await release.wait()
        raise OSError("disk gone")

    async def done(job: VerifyJob) -> None:
        finished.append(job)

    first = jobs.start("alice", broken, done)
    assert jobs.start("bob", broken, done) is first  # joined, not a second verification
    release.set()
    while not finished:
        await asyncio.sleep(0.01)
    assert (first.failed, first.ended, first.report, finished) == (True, 100.0, None, [first])
    assert "message log verification failed" in caplog.text

    never = asyncio.Event()

    async def hangs() -> VerifyReport:
        await never.wait()
        raise AssertionError("cancelled before this")

    started = [jobs.start(f"op{i}", hangs, done) for i in range(KEPT + 3)]
    assert len({j.id for j in started}) == 1  # the one running job is joined every time
    assert jobs.get(first.id) is first and jobs.recent()[0] is started[0]
    await jobs.close()
    assert started[0].ended is None  # cancelled: not reported as ended or failed


async def test_only_the_last_kept_jobs_are_remembered() -> None:
    jobs = VerifyJobs(lambda: 1.0)

    async def work() -> None:
        return None

    async def done(job: VerifyJob) -> None:
        return None

    launched = [jobs.launch(VerifyJob(f"j{i}", 0.0, "op"), work, done, "test job") for i in range(KEPT + 3)]
    await jobs.close()
    assert [j.id for j in jobs.recent()] == [j.id for j in reversed(launched[3:])]
    assert jobs.get("j0") is None and jobs.get(f"j{KEPT + 2}") is launched[-1]
