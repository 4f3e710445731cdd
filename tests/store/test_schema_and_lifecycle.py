"""Migrations, durability across reopen, readiness, closing and URL handling."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import threading
import uuid
from pathlib import Path

import asyncpg
import pytest
from store_helpers import T0, Backend, inbound, message

from gateway.msglog.migrations import MSGLOG_SCHEMA
from gateway.store import (
    InvalidStoreURL,
    PostgresStore,
    SchemaError,
    SQLiteStore,
    Store,
    StoreUnavailable,
    open_store,
)
from gateway.store._sqlite_worker import CACHE_KIB, _switch_to_wal, open_worker
from gateway.store.migrations import MIGRATIONS, STORE_SCHEMA, SchemaHistory, latest_version, plan


def test_plan_applies_missing_versions_in_order() -> None:
    assert [m.version for m in plan([])] == [m.version for m in MIGRATIONS]
    assert plan(range(1, latest_version() + 1)) == []
    assert [m.version for m in plan([1])] == list(range(2, latest_version() + 1))


def test_plan_refuses_a_newer_or_gapped_schema() -> None:
    with pytest.raises(SchemaError, match="unknown to this gateway"):
        plan([1, 2, 3, latest_version() + 1])
    with pytest.raises(SchemaError, match="gap"):
        plan([2])


def test_the_message_log_plans_its_own_history() -> None:
    assert MSGLOG_SCHEMA.version_table != STORE_SCHEMA.version_table
    assert [m.version for m in MSGLOG_SCHEMA.plan([])] == list(range(1, MSGLOG_SCHEMA.latest_version() + 1))
    with pytest.raises(SchemaError, match="message log has schema version"):
        MSGLOG_SCHEMA.plan([MSGLOG_SCHEMA.latest_version() + 1])


def test_every_migration_renders_for_both_dialects() -> None:
    for migration in MIGRATIONS:
        for dialect in ("sqlite", "postgres"):
            rendered = migration.render(dialect)
            assert rendered
            assert not any("{" in s or s.rstrip().endswith(";") for s in rendered)


async def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert isinstance(store, (SQLiteStore, PostgresStore))
    assert store.migrated == tuple(m.version for m in MIGRATIONS)  # type: ignore[union-attr]


async def test_reopen_is_durable_and_migrates_nothing(backend: Backend) -> None:
    first = await backend.open()
    m = message()
    await first.accept(inbound(receipt=b"kept"), [m])
    await first.remember_nonce("s", "n", expires_at=T0 + 60, now=T0)
    await first.close()

    second = await backend.open()

    assert second.migrated == ()  # type: ignore[attr-defined]
    record = await second.get_receipt("case", "3205002405030562129:4")
    assert record is not None
    assert record.receipt == b"kept"
    assert await second.get_message(m.id) == m
    assert not await second.remember_nonce("s", "n", expires_at=T0 + 60, now=T0 + 1)


async def test_closed_store_is_unavailable(backend: Backend) -> None:
    store = await backend.open()
    await store.ping()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.accept(inbound(), [message()])
    await store.close()  # closing twice is harmless


async def test_newer_sqlite_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    store = await SQLiteStore.open(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
    conn.close()
    with pytest.raises(SchemaError, match="999"):
        await open_store(f"sqlite://{path}")


@pytest.mark.postgres
async def test_newer_postgres_schema_is_refused(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    store = await open_store(f"{pg_dsn}?schema={schema}")
    await store.close()
    conn = await asyncpg.connect(pg_dsn)
    try:
        insert = f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES (999, $1)'
        await conn.execute(insert, "future")
        with pytest.raises(SchemaError, match="999"):
            await open_store(f"{pg_dsn}?schema={schema}")
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def test_sqlite_file_in_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(f"sqlite://{tmp_path / 'no' / 'such' / 'dir.db'}")
    assert caught.value.retryable


async def test_unreachable_postgres_is_unavailable() -> None:
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreUnavailable):
        await open_store(f"postgresql://postgres:s3cret@127.0.0.1:{port}/test?connect_timeout=2")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("gateway.db", "no scheme"),
        ("mysql://u:s3cret@h/db", "unknown store URL scheme"),
        ("sqlite://", "no file path"),
        ("sqlite:///tmp/x.db?journal=off", "unknown sqlite URL option"),
        ("sqlite:///tmp/x.db?busy_timeout=soon", "busy_timeout='soon'"),
        ("postgresql://u:s3cret@127.0.0.1/test?schema=Bad-Name", "schema='Bad-Name'"),
        ("postgresql://u:s3cret@127.0.0.1/test?max_size=many", "max_size='many'"),
        ("postgresql://u:s3cret@127.0.0.1:notaport/test", "URL was refused"),
    ],
)
async def test_bad_urls_name_the_part_but_never_the_password(url: str, fragment: str) -> None:
    with pytest.raises(InvalidStoreURL) as caught:
        await open_store(url)
    assert fragment in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


async def test_instances_starting_together_migrate_once(backend: Backend) -> None:
    stores = await asyncio.gather(*(backend.open() for _ in range(4)))
    applied = sorted(s.migrated for s in stores)  # type: ignore[attr-defined]
    assert applied == [(), (), (), tuple(m.version for m in MIGRATIONS)]


async def test_sqlite_locked_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = await open_store(f"sqlite://{path}?busy_timeout=0.1")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable) as caught:
            await store.accept(inbound(), [message()])
        assert caught.value.retryable
        assert caught.value.operation == "accept"
        holder.execute("ROLLBACK")
        assert (await store.accept(inbound(), [message()])).new  # fine once the lock is gone
    finally:
        holder.close()
        await store.close()


def test_switching_to_wal_waits_for_a_busy_file_even_when_sqlite_answers_busy_at_once(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # another instance, mid-way through creating the file
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(5)
        holder.execute("ROLLBACK")
        holder.close()

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    locked.wait(5)
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)  # SQLite itself answers "locked" at once
    try:
        threading.Timer(0.2, release.set).start()
        assert _switch_to_wal(conn, busy_timeout=5.0) == "wal"
    finally:
        conn.close()
        release.set()
        thread.join()


def test_switching_to_wal_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            _switch_to_wal(conn, busy_timeout=0.1)
    finally:
        conn.close()
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("history", [STORE_SCHEMA, MSGLOG_SCHEMA], ids=["store", "message log"])
async def test_sqlite_connections_are_durable_wal_with_a_bounded_page_cache(
    tmp_path: Path, history: SchemaHistory
) -> None:
    """Every file the gateway writes: WAL, fsync at each commit (nothing accepted is lost), and a page cache large
    enough for a backlog of sealed rows (the default 2 MiB re-read pages from the file at every delivery) yet
    bounded (KiB, as SQLite's negative cache_size means)."""
    worker, _ = await open_worker(tmp_path / "file.db", history, {})
    try:
        pragmas = await worker.run(
            "pragmas",
            lambda conn: tuple(
                conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "synchronous", "cache_size")
            ),
        )
    finally:
        await worker.stop()
    assert pragmas == ("wal", 2, -CACHE_KIB)  # synchronous 2 = FULL
    assert 8 * 1024 <= CACHE_KIB <= 64 * 1024
