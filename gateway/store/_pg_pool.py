"""The asyncpg pool of the store and of the message log: opening it and running work on it.

Why one place: both open a pool on an optional schema of one database and must refuse the same bad schema
names, hide the same secrets (an unparsable DSN's text may hold the password) and translate driver errors
the same way (:mod:`._pg_errors`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypedDict, TypeVar

import asyncpg

from ._pg_errors import translate
from .errors import InvalidStoreURL, StoreUnavailable
from .migrate import migrate_postgres
from .migrations import SchemaHistory

__all__ = [
    "APPLICATION_NAME",
    "PoolOptions",
    "PooledBackend",
    "open_migrated_pool",
    "open_pool",
    "row_count",
    "run_pooled",
]

T = TypeVar("T")

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: What the gateway's PostgreSQL sessions call themselves (``pg_stat_activity.application_name``).
APPLICATION_NAME: Final = "tongban-gateway"


async def _keep_session(conn: Any) -> None:
    """The pool's reset on release: nothing beyond the rollback asyncpg always does first.

    Why not asyncpg's default (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): it is a
    round trip of its own after every store call, as many as the calls themselves, and undoes state the gateway
    never leaves behind: its advisory locks are transaction-scoped (migrations), it never LISTENs, its cursors live
    inside transactions, and its session settings are set at connect (``search_path``, ``application_name``). A
    transaction a cancelled call left open is still rolled back by asyncpg before this runs. Measured in
    bench/pipeline.py: about a fifth of PostgreSQL intake's CPU per request went to these resets.
    """


async def open_pool(dsn: str, schema: str | None, *, min_size: int, max_size: int, connect_timeout: float) -> Any:
    """A pool on ``dsn`` whose connections search ``schema`` first; store errors for a bad URL or no server.

    The connections name themselves ``tongban-gateway`` (``application_name``): an operator's ``pg_stat_activity``
    tells the gateway's sessions from others'.
    """
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidStoreURL("open", f"schema={schema!r} is not a plain lower-case identifier; use [a-z_][a-z0-9_]*")
    settings = {"application_name": APPLICATION_NAME}
    if schema is not None:
        settings["search_path"] = schema
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            server_settings=settings,
            reset=_keep_session,
        )
    except ValueError as exc:  # a DSN asyncpg cannot parse; its text may hold the password
        raise InvalidStoreURL("open", f"the PostgreSQL URL was refused ({type(exc).__name__})") from exc
    except Exception as exc:
        raise (translate("open", exc) or StoreUnavailable("open", type(exc).__name__)) from exc


async def run_pooled(pool: Any, name: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(connection)`` on a connection from ``pool``, translating driver errors once, here."""
    try:
        async with pool.acquire() as conn:
            return await fn(conn)
    except Exception as exc:
        mapped = translate(name, exc)
        if mapped is None:
            raise
        raise mapped from exc


class PoolOptions(TypedDict, total=False):
    """The ``postgresql://`` URL options the store and the message log both take (:mod:`.urls`)."""

    schema: str | None  # the connections' search_path, created if needed (tests isolate themselves with it)
    min_size: int  # connections kept open (default 1)
    max_size: int  # connections at most (default 10)
    connect_timeout: float  # seconds (default 10)


async def open_migrated_pool(dsn: str, history: SchemaHistory, options: PoolOptions) -> tuple[Any, tuple[int, ...]]:
    """A pool on ``dsn`` with ``history`` migrated (under its advisory lock), and the versions this open applied;
    the pool is closed again when migrating fails."""
    schema = options.get("schema")
    pool = await open_pool(
        dsn,
        schema,
        min_size=options.get("min_size", 1),
        max_size=options.get("max_size", 10),
        connect_timeout=options.get("connect_timeout", 10.0),
    )
    try:
        migrated = await run_pooled(pool, "migrate", lambda conn: migrate_postgres(conn, history, schema))
    except BaseException:
        await pool.close()
        raise
    return pool, migrated


class PooledBackend:
    """What a backend on an asyncpg pool shares: the pool, and running work on it with driver errors translated."""

    _pool: Any

    async def _run(self, name: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(connection)`` on a pooled connection, translating driver errors once, here."""
        return await run_pooled(self._pool, name, fn)


def row_count(status: str) -> int:
    """The row count of a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])
