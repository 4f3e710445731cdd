"""The gateway's durable store: idempotency records, the outbox, replay nonces, sync state, console accounts.

Use :func:`open_store` with a URL; a part that uses the store is typed against the narrowest protocol of
:mod:`.api` it needs (``Outbox``, ``IdempotencyRecords``, ``Nonces``, ``SyncState``, ``OperatorAccounts``,
``ConsoleSessions``), never against a backend::

    store = await open_store("sqlite:///var/lib/tongban/gateway.db")        # one instance (default)
    store = await open_store("postgresql://gw@db/tongban?schema=gateway")  # several instances

Backends: :mod:`.sqlite` (stdlib ``sqlite3`` on its own thread, WAL, group commit) and
:mod:`.postgres` (asyncpg pool, ``FOR UPDATE SKIP LOCKED``). Both run the statements of :mod:`._sql` (outbox
states from :mod:`.transitions`) and apply :mod:`.migrations` at open.
Errors: see :mod:`.errors`; driver exceptions never cross this package's boundary.

URL rules. ``sqlite://`` is followed by the file path: ``sqlite:///abs/path.db`` is absolute,
``sqlite://data/gw.db`` relative to the working directory; query options ``busy_timeout`` (seconds)
and ``batch_max`` (jobs per group commit). ``postgresql://`` (or ``postgres://``) URLs go to asyncpg
as they are, except the options ``schema``, ``min_size``, ``max_size`` and ``connect_timeout``.
"""

from __future__ import annotations

from . import api
from .api import *  # noqa: F403 (the records and protocols, re-exported as they are)
from .api import Store
from .errors import InvalidStoreURL, SchemaError, StoreConflict, StoreError, StoreUnavailable
from .postgres import PostgresStore
from .sqlite import SQLiteStore
from .urls import POSTGRES_OPTIONS, SQLITE_OPTIONS, read_database_url

__all__ = [
    "InvalidStoreURL",
    "PostgresStore",
    "SQLiteStore",
    "SchemaError",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "open_store",
]
__all__ += api.__all__


async def open_store(url: str) -> Store:
    """Open, migrate and return the store named by ``url`` (``sqlite://...`` or ``postgresql://...``).

    Raises :class:`InvalidStoreURL` for a URL it cannot use (the message never repeats the URL,
    which may hold a password), :class:`StoreUnavailable` when the database cannot be reached and
    :class:`SchemaError` when the database is newer than this code.
    """
    parsed = read_database_url(url, sqlite_options=SQLITE_OPTIONS, postgres_options=POSTGRES_OPTIONS, what="store")
    if parsed.kind == "sqlite":
        return await SQLiteStore.open(parsed.target, **parsed.options)
    return await PostgresStore.open(parsed.target, **parsed.options)
