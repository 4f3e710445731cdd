"""The store's exception tree: every driver error leaves the store as one of these.

Callers (the pipeline, the delivery workers, the readiness probe) never see ``sqlite3`` or
``asyncpg`` exceptions: each backend translates them once, at its public methods, with
``raise ... from exc`` so the driver error stays on ``__cause__`` for debugging.

Retryable versus permanent is a *type*, never a parsed message::

    GatewayError (gateway.errors)
    └── StoreError              base; a permanent failure of one operation
        ├── StoreUnavailable    retryable: the database cannot be reached, is locked past the
        │                       busy timeout, or the store is closed; readiness fails
        ├── StoreConflict       a write broke a uniqueness rule (e.g. an outbound id reused)
        ├── SchemaError         the database holds a schema newer than this code knows
        ├── InvalidStoreURL     (also a ValueError) the store URL cannot be used; raised at start-up
        └── MessageLogError     the message log's own failures (gateway/msglog/errors.py)

Messages name the operation and the driver's error class, never bound values: rows carry
personal data and the exception text ends up in logs.
"""

from __future__ import annotations

from gateway.errors import GatewayError

__all__ = [
    "InvalidStoreURL",
    "SchemaError",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(GatewayError):
    """An operation on the durable store failed; the transaction was rolled back."""

    #: Whether trying the same operation again later may succeed.
    retryable: bool = False

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"{operation}: {detail}")
        self.operation = operation
        self.detail = detail


class StoreUnavailable(StoreError):
    """The database cannot serve requests right now; try again later (and fail readiness)."""

    retryable = True


class StoreConflict(StoreError):
    """A write would have broken a uniqueness rule, for example an outbound message id reused."""


class SchemaError(StoreError):
    """The database schema is newer than this code (or damaged): refuse to run against it."""


class InvalidStoreURL(StoreError, ValueError):
    """The store URL is not usable; the message names the part at fault, never the password."""
