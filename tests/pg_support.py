"""The test PostgreSQL (127.0.0.1:5432, database ``test``, trust auth): finding it and cleaning up schemas.

Probed from inside running test loops, so each probe runs on a thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import asyncpg

PG_USERS = ("postgres", "root")
PG_HOST = "127.0.0.1:5432"
SKIP_REASON = f"no PostgreSQL server answers at {PG_HOST} (database 'test', users {PG_USERS})"


def find_pg_dsn() -> str | None:
    """The DSN of the test PostgreSQL, or None when no server answers."""

    async def probe(dsn: str) -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for user in PG_USERS:
            dsn = f"postgresql://{user}@{PG_HOST}/test"
            if pool.submit(lambda d=dsn: asyncio.run(probe(d))).result():
                return dsn
    return None


#: how long dropping a test's schema waits for its locks: a connection left in a transaction (a stack still running,
#: torn down after its schema's fixture) otherwise makes the DROP, and with it the whole run, wait for ever
DROP_LOCK_TIMEOUT = "60s"


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test's schema and everything in it; fails (lock_timeout) rather than waiting on a lock for ever."""

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(drop())).result()
