"""A fresh store per test on both backends: SQLite in tmp_path and PostgreSQL in its own schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from store_helpers import Backend

from gateway.store import Store


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
