"""asyncpg and network errors mapped to the store's tree (see :mod:`.errors`), in one place.

Retryable conditions (no connection, server shutting down, out of resources, a serialization failure
or deadlock) become :class:`StoreUnavailable`; broken uniqueness becomes :class:`StoreConflict`;
any other server error a plain :class:`StoreError`. Only the error class and SQLSTATE are kept:
PostgreSQL messages may quote the offending values, which can be personal data.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from .errors import StoreConflict, StoreError, StoreUnavailable

__all__ = ["translate"]

_UNAVAILABLE: Final = (
    OSError,  # includes TimeoutError
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock: try again
)


def translate(operation: str, exc: BaseException) -> StoreError | None:
    """The store error for a driver or network error, or None if ``exc`` is not one of those.

    Only the error class and SQLSTATE are kept: PostgreSQL messages may quote offending values.
    """
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return StoreConflict(operation, f"{type(exc).__name__} (SQLSTATE {exc.sqlstate})")
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(operation, f"{type(exc).__name__}: {_short(exc)}")
    if isinstance(exc, asyncpg.PostgresError):
        return StoreError(operation, f"{type(exc).__name__} (SQLSTATE {exc.sqlstate})")
    if isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, asyncpg.DataError):
        return StoreUnavailable(operation, f"{type(exc).__name__}: {_short(exc)}")  # e.g. the pool is closed
    if isinstance(exc, asyncpg.DataError):
        return StoreError(operation, type(exc).__name__)
    return None


def _short(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        return f"SQLSTATE {exc.sqlstate}"
    return str(exc)[:200]
