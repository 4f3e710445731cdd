"""A fresh message log database per test on both backends: SQLite in tmp_path, PostgreSQL in its own schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from msglog_helpers import Backend, Sample, load_samples

from signing.keys import SigningKey


@pytest.fixture(scope="session")
def msglog_pg_dsn(pg_dsn: str) -> str:
    return pg_dsn


@pytest.fixture(scope="session")
def seal_key() -> SigningKey:
    """The gateway's seal key, generated for the test session (Ed25519)."""
    return SigningKey.of("gw-seal-test", ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def samples(samples_dir: Path) -> list[Sample]:
    found = load_samples(samples_dir)
    assert len(found) >= 10
    return found


async def _backend(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, key: SigningKey
) -> AsyncIterator[Backend]:
    if kind == "sqlite":
        path = tmp_path / "msglog.db"
        b = Backend("sqlite", f"sqlite://{path}", key, path=path)
        yield b
        for log in b.opened:
            await log.close()
        return
    dsn = request.getfixturevalue("msglog_pg_dsn")
    schema = f"m_{uuid.uuid4().hex[:16]}"
    b = Backend("postgres", f"{dsn}?schema={schema}", key, pg_dsn=dsn, schema=schema)
    yield b
    for log in b.opened:
        await log.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, seal_key: SigningKey) -> AsyncIterator[Backend]:
    async for b in _backend(request.param, request, tmp_path, seal_key):
        yield b


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
async def matrix_backend(
    request: pytest.FixtureRequest, tmp_path: Path, seal_key: SigningKey
) -> AsyncIterator[Backend]:
    """As ``backend``, for the long tampering matrix: its PostgreSQL half is marked slow."""
    async for b in _backend(request.param, request, tmp_path, seal_key):
        yield b


@pytest.fixture
async def pg_backend(request: pytest.FixtureRequest, tmp_path: Path, seal_key: SigningKey) -> AsyncIterator[Backend]:
    """A PostgreSQL schema of its own, for tests that need two gateway instances on one database."""
    async for b in _backend("postgres", request, tmp_path, seal_key):
        yield b
