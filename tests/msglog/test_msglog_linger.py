"""Group commit's linger: a small group waits a moment for the appends on their way; a large one never waits."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from msglog_helpers import T0

from gateway.msglog import AtRestKey, AtRestKeys, NewEntry
from gateway.msglog._base import LogSettings
from gateway.msglog._batcher import LINGER, GroupCommitter
from gateway.msglog.sqlite import SQLiteMessageLog
from signing.devpki import generate_ed25519
from signing.keys import SigningKey


async def _flushes(linger: float, arrivals: list[float], linger_below: int = 4) -> list[list[int]]:
    """The groups a committer flushes when items arrive at ``arrivals`` (seconds from the start)."""
    groups: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        groups.append(items)
        await asyncio.sleep(0.001)  # a commit takes a moment, as a real one
        return items

    committer: GroupCommitter[int, int] = GroupCommitter(flush, linger=linger, linger_below=linger_below)

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(at)
        assert await committer.submit([i]) == [i]

    await asyncio.gather(*(one(i, at) for i, at in enumerate(arrivals)))
    await committer.close()
    return groups


async def test_a_small_group_waits_for_the_appends_on_their_way() -> None:
    arrivals = [0.0, 0.05, 0.1, 0.15]  # spaced: each would be a flush of its own
    assert await _flushes(0.0, arrivals) == [[0], [1], [2], [3]]
    assert await _flushes(0.3, arrivals) == [[0, 1, 2, 3]]


async def test_a_large_group_is_flushed_at_once() -> None:
    start = time.perf_counter()
    groups = await _flushes(5.0, [0.0] * 8, linger_below=4)  # eight at once: no waiting, however long the linger
    assert sorted(i for group in groups for i in group) == list(range(8))
    assert time.perf_counter() - start < 2.0


def test_the_linger_is_refused_when_negative() -> None:
    async def flush(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="linger"):
        GroupCommitter(flush, linger=-1.0)


async def test_the_sqlite_log_groups_spaced_appends(tmp_path: object) -> None:
    settings = LogSettings(
        keys=AtRestKeys.create(AtRestKey.of("k", os.urandom(16))), signing_key=SigningKey.of("s", generate_ed25519())
    )
    log = await SQLiteMessageLog.open(f"{tmp_path}/log.db", settings=settings)
    try:
        before = log.commits

        async def append(i: int) -> None:
            await asyncio.sleep(i * LINGER / 4)  # three more arrive within the first one's linger
            entry = NewEntry(
                at=T0, direction="out", platform="g60", operation="case:POST", record_type="case",
                message_id=f"m{i}", idem_key=f"C:{i}", message=b"<x/>",
            )  # fmt: skip
            await log.append(entry)

        await asyncio.gather(*(append(i) for i in range(4)))
        assert log.commits - before < 4
        assert (await log.verify()).ok
    finally:
        await log.close()
