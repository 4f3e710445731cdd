"""The store's PostgreSQL sessions: one round trip per call (no reset query at release), named in
``pg_stat_activity``, and still clean for the next caller when a call was cancelled inside a transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from store_helpers import T0

from gateway.store import open_store
from gateway.store._pg_pool import APPLICATION_NAME
from gateway.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_store(pg_dsn: str) -> AsyncIterator[PostgresStore]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    store = await open_store(f"{pg_dsn}?schema={schema}&min_size=1&max_size=1")
    assert isinstance(store, PostgresStore)
    yield store
    await store.close()
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_a_store_call_leaves_its_own_statement_last_not_a_reset(pg_store: PostgresStore, pg_dsn: str) -> None:
    """asyncpg's default release runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``: a
    second round trip per store call. The server's own record of the session's last statement shows none ran."""
    pid = await pg_store._run("pid", lambda conn: conn.fetchval("SELECT pg_backend_pid()"))
    assert await pg_store.remember_nonce("scope", uuid.uuid4().hex, T0 + 600, T0)
    observer = await asyncpg.connect(pg_dsn)
    try:
        row = await observer.fetchrow("SELECT application_name, query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await observer.close()
    assert row is not None
    assert row["application_name"] == APPLICATION_NAME
    assert "nonces" in row["query"] and "pg_advisory_unlock_all" not in row["query"], row["query"]


async def test_a_call_cancelled_inside_a_transaction_leaves_nothing_for_the_next(pg_store: PostgresStore) -> None:
    """Without the reset query the rollback asyncpg does at release is what cleans up: the one pooled connection
    comes back outside any transaction, and what the cancelled call wrote is gone."""
    started = asyncio.Event()

    async def stuck(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            await conn.execute("CREATE TABLE half_done (x int)")
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    call = asyncio.create_task(pg_store._run("stuck", stuck))
    await asyncio.wait_for(started.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    async def state(conn: asyncpg.Connection) -> tuple[bool, object]:
        return conn.is_in_transaction(), await conn.fetchval("SELECT to_regclass('half_done')")

    in_transaction, table = await asyncio.wait_for(pg_store._run("state", state), 10)
    assert not in_transaction and table is None
