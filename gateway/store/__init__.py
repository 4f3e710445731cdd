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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise InvalidStoreURL(
            "open", "the store URL has no scheme; use sqlite:///path.db or postgresql://..."
        )
    scheme = scheme.lower()
    if scheme == "sqlite":
        path, _, query = url[len("sqlite://") :].partition("?")
        if not path:
            raise InvalidStoreURL("open", "sqlite URL has no file path; use sqlite:///path/to/file.db")
        options, rest = _options(query, _SQLITE_OPTIONS)
        if rest:
            raise InvalidStoreURL(
                "open", f"unknown sqlite URL option(s) {sorted(rest)}; known: {sorted(_SQLITE_OPTIONS)}"
            )
        return await SQLiteStore.open(path, **options)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        options, rest = _options(parts.query, _POSTGRES_OPTIONS)
        dsn = urlunsplit(parts._replace(query=urlencode(rest)))
        return await PostgresStore.open(dsn, **options)
    raise InvalidStoreURL("open", f"unknown store URL scheme {scheme!r}; use sqlite or postgresql")


def _options(query: str, known: dict[str, Callable[[str], Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a query string into our typed options and the rest (passed on to the driver)."""
    options: dict[str, Any] = {}
    rest: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in known:
            rest[key] = value
            continue
        try:
            options[key] = known[key](value)
        except ValueError as exc:
            raise InvalidStoreURL(
                "open", f"store URL option {key}={value!r} is not a valid {known[key].__name__}"
            ) from exc
    return options, rest
