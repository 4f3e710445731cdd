"""SQL of the console's store methods (migrations 9 and 10), written once for both backends.

Why a module of its own: the statements differ between SQLite and PostgreSQL only in their placeholders (``?`` or
``$n``), so each is built here from a placeholder function and the backends only run them. Every statement is
assembled from the constants below and the *names* of set filters, never from caller data (hence the S608 noqa).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from . import _rows
from .api import STATES, ConsoleSession, DeliveryAttempt, OutboxQuery

__all__ = [
    "ATTEMPT_COLUMNS",
    "SESSION_COLUMNS",
    "attempt_from_row",
    "find_messages_sql",
    "session_from_row",
    "session_values",
]

Mark = Callable[[int], str]

ATTEMPT_COLUMNS: Final = ("outbox_id", "attempt", "at", "outcome", "code", "latency")
SESSION_COLUMNS: Final = ("token_sha256", "name", "role", "csrf", "lang", "last_seen")
#: attempts of messages no longer in the outbox (purged when delivered long enough ago, or discarded)
PURGE_ORPHAN_ATTEMPTS: Final = "DELETE FROM delivery_attempts WHERE outbox_id NOT IN (SELECT id FROM outbox)"


def find_messages_sql(query: OutboxQuery, mark: Mark) -> tuple[str, list[Any]]:
    """``SELECT`` of the outbox rows matching ``query`` and its parameters, ``mark(n)`` naming the n-th one."""
    if query.state is not None and query.state not in STATES:
        raise ValueError(f"state must be one of {sorted(STATES)} or None, got {query.state!r}")
    if query.limit < 1:
        raise ValueError(f"limit must be >= 1, got {query.limit!r}")
    conditions: list[str] = []
    params: list[Any] = []

    def where(condition: str, value: Any) -> None:
        params.append(value)
        conditions.append(condition.format(mark(len(params))))

    if query.state is not None:
        where("o.state = {}", query.state)
    if query.destination is not None:
        where("o.destination = {}", query.destination)
    if query.code is not None:
        where("o.last_error_code = {}", query.code)
    if query.created_from is not None:
        where("o.created_at >= {}", float(query.created_from))
    if query.created_to is not None:
        where("o.created_at < {}", float(query.created_to))
    if query.message_id is not None:
        where("o.message_id = {}", query.message_id)
    if query.source is not None:
        where(
            "EXISTS (SELECT 1 FROM inbound i WHERE i.kind = o.kind AND i.idem_key = o.idem_key AND i.source = {})",
            query.source,
        )
    params.append(query.limit)
    columns = ", ".join("o." + c for c in _rows.OUTBOX_COLUMNS)
    sql = (
        f"SELECT {columns} FROM outbox o WHERE {' AND '.join(conditions) or '1 = 1'}"  # noqa: S608
        f" ORDER BY o.created_at, o.id LIMIT {mark(len(params))}"
    )
    return sql, params


def attempt_values(attempt: DeliveryAttempt) -> tuple[Any, ...]:
    return (attempt.outbox_id, attempt.attempt, float(attempt.at), attempt.outcome, attempt.code,
            float(attempt.latency))  # fmt: skip


def attempt_from_row(row: Any) -> DeliveryAttempt:
    return DeliveryAttempt(str(row[0]), int(row[1]), float(row[2]), str(row[3]), row[4], float(row[5]))


def session_values(session: ConsoleSession) -> tuple[Any, ...]:
    return (session.token_sha256, session.name, session.role, session.csrf, session.lang, float(session.last_seen))


def session_from_row(row: Any) -> ConsoleSession:
    return ConsoleSession(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), float(row[5]))


def insert_sql(table: str, columns: tuple[str, ...], mark: Mark) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark(i + 1) for i in range(len(columns)))})"  # noqa: S608


def list_attempts_sql(mark: Mark) -> str:
    # the latest ``limit`` attempts, shown oldest first
    return (
        f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM (SELECT {', '.join(ATTEMPT_COLUMNS)} FROM delivery_attempts"  # noqa: S608
        f" WHERE outbox_id = {mark(1)} ORDER BY at DESC LIMIT {mark(2)}) latest ORDER BY at, attempt"
    )


def touch_session_sql(mark: Mark) -> str:
    return (
        f"UPDATE console_sessions SET last_seen = {mark(3)} WHERE token_sha256 = {mark(1)}"  # noqa: S608
        f" AND last_seen > {mark(2)} RETURNING {', '.join(SESSION_COLUMNS)}"
    )


def bound_sessions_sql(mark: Mark) -> str:
    # keeps the ``max`` most recently seen sessions (ties may keep a few more); NULL (fewer rows) deletes nothing
    return (
        "DELETE FROM console_sessions WHERE last_seen < (SELECT last_seen FROM console_sessions"  # noqa: S608
        f" ORDER BY last_seen DESC LIMIT 1 OFFSET {mark(1)})"
    )
