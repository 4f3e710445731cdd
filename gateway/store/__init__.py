"""The gateway's durable store: idempotency records, the outbox, replay nonces, sync state.

Use :func:`open_store` with a URL and program against :class:`Store` only::

    store = await open_store("sqlite:///var/lib/tongban/gateway.db")        # one instance (default)
    store = await open_store("postgresql://gw@db/tongban?schema=gateway")  # several instances

Backends: :mod:`.sqlite` (stdlib ``sqlite3`` on its own thread, WAL, group commit) and
:mod:`.postgres` (asyncpg pool, ``FOR UPDATE SKIP LOCKED``). Both apply :mod:`.migrations` at open.
Errors: see :mod:`.errors`; driver exceptions never cross this package's boundary.

URL rules. ``sqlite://`` is followed by the file path: ``sqlite:///abs/path.db`` is absolute,
``sqlite://data/gw.db`` relative to the working directory; query options ``busy_timeout`` (seconds)
and ``batch_max`` (jobs per group commit). ``postgresql://`` (or ``postgres://``) URLs go to asyncpg
as they are, except the options ``schema``, ``min_size``, ``max_size`` and ``connect_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .api import (
    DEAD,
    DELIVERED,
    DELIVERING,
    PENDING,
    STATES,
    Accepted,
    DestinationStats,
    InboundRecord,
    OutboundMessage,
    Store,
)
from .errors import InvalidStoreURL, SchemaError, StoreConflict, StoreError, StoreUnavailable
from .postgres import PostgresStore
from .sqlite import SQLiteStore
from .urls import read_database_url

__all__ = [
    "DEAD",
    "DELIVERED",
    "DELIVERING",
    "PENDING",
    "STATES",
    "Accepted",
    "DestinationStats",
    "InboundRecord",
    "InvalidStoreURL",
    "OutboundMessage",
    "PostgresStore",
    "SQLiteStore",
    "SchemaError",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]

_SQLITE_OPTIONS: dict[str, Callable[[str], Any]] = {"busy_timeout": float, "batch_max": int}
_POSTGRES_OPTIONS: dict[str, Callable[[str], Any]] = {
    "schema": str,
    "min_size": int,
    "max_size": int,
    "connect_timeout": float,
}


async def open_store(url: str) -> Store:
    """Open, migrate and return the store named by ``url`` (``sqlite://...`` or ``postgresql://...``).

    Raises :class:`InvalidStoreURL` for a URL it cannot use (the message never repeats the URL,
    which may hold a password), :class:`StoreUnavailable` when the database cannot be reached and
    :class:`SchemaError` when the database is newer than this code.
    """
    parsed = read_database_url(url, sqlite_options=_SQLITE_OPTIONS, postgres_options=_POSTGRES_OPTIONS, what="store")
    if parsed.kind == "sqlite":
        return await SQLiteStore.open(parsed.target, **parsed.options)
    return await PostgresStore.open(parsed.target, **parsed.options)


