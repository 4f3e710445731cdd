"""The asyncpg pool of the store and of the message log: opening it and running work on it.

Why one place: both open a pool on an optional schema of one database and must refuse the same bad schema
names, hide the same secrets (an unparsable DSN's text may hold the password) and translate driver errors
the same way (:mod:`._pg_errors`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import asyncpg

from ._pg_errors import translate
from .errors import InvalidStoreURL, StoreUnavailable

__all__ = ["open_pool", "run_pooled"]

T = TypeVar("T")

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


async def open_pool(
    dsn: str, schema: str | None, *, min_size: int, max_size: int, connect_timeout: float
) -> Any:
    """A pool on ``dsn`` whose connections search ``schema`` first; store errors for a bad URL or no server."""
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidStoreURL("open", f"schema={schema!r} is not a plain lower-case identifier; use [a-z_][a-z0-9_]*")
    settings = {} if schema is None else {"search_path": schema}
    try:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=connect_timeout, server_settings=settings
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
