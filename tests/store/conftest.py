"""A fresh store per test on both backends: SQLite in tmp_path and PostgreSQL in its own schema."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from store_helpers import Backend

from gateway.store import Store

PG_USERS = ("postgres", "root")
PG_HOST = "127.0.0.1:5432"


def _find_pg_dsn() -> str | None:
    async def probe(dsn: str) -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    # Asked for from inside the running test loop: probe on a thread with its own loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for user in PG_USERS:
            dsn = f"postgresql://{user}@{PG_HOST}/test"
            if pool.submit(lambda d=dsn: asyncio.run(probe(d))).result():
                return dsn
    return None


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    dsn = _find_pg_dsn()
    if dsn is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_HOST} (database 'test', users {PG_USERS})")
    return dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = Backend("sqlite", f"sqlite://{tmp_path / 'gateway.db'}", [])
        yield b
        for store in b.opened:
            await store.close()
        return
    dsn = request.getfixturevalue("pg_dsn")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    b = Backend("postgres", f"{dsn}?schema={schema}", [])
    yield b
    for store in b.opened:
        await store.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def store(backend: Backend) -> Store:
    return await backend.open()
