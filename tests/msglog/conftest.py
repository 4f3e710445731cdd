"""A fresh message log database per test on both backends: SQLite in tmp_path, PostgreSQL in its own schema."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from msglog_helpers import Backend, Sample, load_samples

from signing.keys import SigningKey

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
def msglog_pg_dsn() -> str:
    dsn = _find_pg_dsn()
    if dsn is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_HOST} (database 'test', users {PG_USERS})")
    return dsn


@pytest.fixture(scope="session")
def seal_key() -> SigningKey:
    """The gateway's seal key, generated for the test session (Ed25519)."""
    return SigningKey.of("gw-seal-test", ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def samples(samples_dir: Path) -> list[Sample]:
    found = load_samples(samples_dir)
    assert len(found) >= 10
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, seal_key: SigningKey) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "msglog.db"
        b = Backend("sqlite", f"sqlite://{path}", seal_key, path=path)
        yield b
        for log in b.opened:
            await log.close()
        return
    dsn = request.getfixturevalue("msglog_pg_dsn")
    schema = f"m_{uuid.uuid4().hex[:16]}"
    b = Backend("postgres", f"{dsn}?schema={schema}", seal_key, pg_dsn=dsn, schema=schema)
    yield b
    for log in b.opened:
        await log.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
