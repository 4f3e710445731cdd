"""SQLite group commit: concurrent calls share one transaction, yet each gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_helpers import inbound, message

from gateway.store import SQLiteStore, StoreConflict, open_store


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "gc.db")
    yield store
    await store.close()


async def test_200_concurrent_accepts_share_few_commits(sqlite_store: SQLiteStore) -> None:
    before = sqlite_store.commits
    results = await asyncio.gather(
        *(sqlite_store.accept(inbound(key=f"C{i}:1"), [message(idem_key=f"C{i}:1")]) for i in range(200))
    )
    commits = sqlite_store.commits - before

    assert all(r.new for r in results)
    assert len(await sqlite_store.list_messages(limit=1000)) == 200
    assert commits <= 20, f"200 accepts took {commits} commits"


async def test_sequential_accepts_commit_one_by_one(sqlite_store: SQLiteStore) -> None:
    before = sqlite_store.commits
    for i in range(5):
        await sqlite_store.accept(inbound(key=f"S{i}:1"), [message()])
    assert sqlite_store.commits - before == 5  # the counter counts real commits, not calls


async def test_duplicates_inside_one_batch_get_the_first_receipt(sqlite_store: SQLiteStore) -> None:
    before = sqlite_store.commits
    calls = [
        sqlite_store.accept(inbound(key=f"D{i % 40}:1", receipt=f"r{i}".encode()), [message(id=f"m{i}")])
        for i in range(120)
    ]
    results = await asyncio.gather(*calls)

    assert sqlite_store.commits - before <= 10
    for key in range(40):
        mine = [results[i] for i in range(key, 120, 40)]
        assert [r.new for r in mine] == [True, False, False]  # queue order is call order
        assert {r.receipt for r in mine} == {f"r{key}".encode()}
    assert sorted(m.id for m in await sqlite_store.list_messages(limit=1000)) == sorted(f"m{i}" for i in range(40))


async def test_one_failing_call_does_not_sink_its_batch(sqlite_store: SQLiteStore) -> None:
    await sqlite_store.accept(inbound(key="taken:1"), [message(id="clash")])
    before = sqlite_store.commits

    results = await asyncio.gather(
        *(
            sqlite_store.accept(inbound(key=f"B{i}:1"), [message(id="clash" if i == 25 else f"b{i}")])
            for i in range(50)
        ),
        return_exceptions=True,
    )

    assert isinstance(results[25], StoreConflict)
    assert all(not isinstance(r, BaseException) and r.new for i, r in enumerate(results) if i != 25)
    assert sqlite_store.commits - before <= 10
    assert await sqlite_store.get_receipt("case", "B25:1") is None
    assert await sqlite_store.get_receipt("case", "B24:1") is not None
    assert sqlite_store._worker.isolated >= 1  # the batch holding the clash was run again job by job


async def test_batches_without_a_failure_run_once_without_savepoints(sqlite_store: SQLiteStore) -> None:
    results = await asyncio.gather(
        *(sqlite_store.accept(inbound(key=f"C{i}:1"), [message(id=f"c{i}")]) for i in range(50))
    )
    assert all(r.new for r in results)
    assert sqlite_store._worker.isolated == 0
    assert all([await sqlite_store.get_receipt("case", f"C{i}:1") for i in (0, 49)])


async def test_batch_size_is_capped(tmp_path: Path) -> None:
    store = await open_store(f"sqlite://{tmp_path / 'cap.db'}?batch_max=10")
    assert isinstance(store, SQLiteStore)
    try:
        before = store.commits
        await asyncio.gather(*(store.accept(inbound(key=f"K{i}:1"), []) for i in range(100)))
        assert store.commits - before >= 10
    finally:
        await store.close()


async def test_cancelled_caller_does_not_stall_the_others(sqlite_store: SQLiteStore) -> None:
    tasks = [asyncio.create_task(sqlite_store.accept(inbound(key=f"X{i}:1"), [])) for i in range(30)]
    tasks[3].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(1 for r in done if isinstance(r, asyncio.CancelledError)) <= 1
    assert (await sqlite_store.accept(inbound(key="after:1"), [])).new
