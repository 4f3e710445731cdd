"""The embedded store: one SQLite file in WAL mode, used by a single gateway instance (the default).

Every call becomes a job on :class:`~._sqlite_worker.SQLiteWorker`'s thread, so the event loop
never blocks on SQLite or on fsync, and concurrent calls share one commit (group commit). The file
uses ``journal_mode=WAL`` and ``synchronous=FULL``: once ``accept`` returns, the receipt and the
outbound messages survive a power cut. ``BEGIN IMMEDIATE`` takes the write lock up front, so two
store objects on one file (tests, an operator CLI) wait for each other up to the busy timeout
instead of failing half way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, Unpack

from . import _console_sql, _rows, _sql
from ._sqlite_worker import SQLiteOptions, SQLiteWorker, open_worker
from .api import (
    Accepted,
    ConsoleSession,
    DeliveryAttempt,
    DestinationStats,
    InboundRecord,
    OperatorAccount,
    OutboundMessage,
    OutboxQuery,
)
from .migrations import STORE_SCHEMA

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_CLAIM_FOR_ALL: Final = _sql.claim_sqlite(destination=False)
_CLAIM_FOR_ONE: Final = _sql.claim_sqlite(destination=True)
_HALVES: Final = len(_sql.claimable(destination=False))


class SQLiteStore:
    """:class:`~gateway.store.api.Store` on one SQLite file. Build it with :meth:`open`."""

    def __init__(self, worker: SQLiteWorker, path: str, migrated: tuple[int, ...]) -> None:
        self._worker = worker
        self.path = path
        #: Migration versions this open applied (empty when the schema was already current).
        self.migrated = migrated

    def __repr__(self) -> str:
        return f"SQLiteStore(path={self.path!r})"

    @classmethod
    async def open(cls, path: str | Path, **options: Unpack[SQLiteOptions]) -> SQLiteStore:
        """Open (creating if needed) and migrate the database file at ``path``."""
        worker, migrated = await open_worker(path, STORE_SCHEMA, options)
        return cls(worker, str(path), migrated)

    @property
    def commits(self) -> int:
        """Transactions committed so far: fewer than calls when group commit batches them."""
        return self._worker.commits

    # --- inbound + outbox -------------------------------------------------------------------

    async def accept(self, inbound: InboundRecord, outbound: Sequence[OutboundMessage]) -> Accepted:
        _rows.check_new_outbound(outbound)
        inbound_values = (
            inbound.kind,
            inbound.key,
            inbound.source,
            inbound.received_at,
            inbound.receipt,
            inbound.receipt_type,
        )
        outbox_values = [_rows.message_values(m) for m in outbound]

        def job(conn: sqlite3.Connection) -> Accepted:
            if conn.execute(_sql.INSERT_INBOUND, inbound_values).rowcount == 0:
                row = conn.execute(_sql.RECEIPT, (inbound.kind, inbound.key)).fetchone()
                return Accepted(new=False, receipt=bytes(row["receipt"]), receipt_type=row["receipt_type"])
            conn.executemany(_sql.INSERT_OUTBOX, outbox_values)
            return Accepted(new=True, receipt=inbound.receipt, receipt_type=inbound.receipt_type)

        return await self._worker.run("accept", job)

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        return await self._one("get_receipt", _sql.GET_RECEIPT, (kind, key), _rows.inbound_from_row)

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        sql = (
            "SELECT source FROM inbound WHERE kind = ? AND idem_key >= ? AND idem_key < ?"
            " ORDER BY received_at DESC LIMIT 1"
        )
        params = (kind, key_prefix, _sql.prefix_end(key_prefix))
        return await self._one("latest_source", sql, params, lambda row: str(row[0]))

    # --- delivery workers -------------------------------------------------------------------

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        _sql.check_claim(limit, lease_seconds)
        sql = _CLAIM_FOR_ONE if destination is not None else _CLAIM_FOR_ALL
        half = (now, limit) if destination is None else (now, destination, limit)
        params = (owner, now + lease_seconds, *half * _HALVES, limit)
        claimed = await self._messages("claim_due", sql, params)
        return sorted(claimed, key=lambda m: (m.next_attempt_at, m.id))

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        return await self._changed("renew_lease", _sql.RENEW_LEASE, (lease_until, id, owner))

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        return await self._messages("expire", _sql.EXPIRE, (error_code, error, destination, started_before, now))

    async def _changed(self, name: str, sql: str, params: tuple[Any, ...]) -> bool:
        """Run one statement that changes one row at most; whether it did."""
        return await self._worker.run(name, lambda conn: conn.execute(sql, params).rowcount == 1)

    async def _count(self, name: str, sql: str, params: tuple[Any, ...]) -> int:
        """Run one statement; how many rows it changed."""
        return await self._worker.run(name, lambda conn: conn.execute(sql, params).rowcount)

    async def _one(self, name: str, sql: str, params: tuple[Any, ...], convert: Callable[[Any], T]) -> T | None:
        """The first row of a query, converted, or None."""

        def job(conn: sqlite3.Connection) -> T | None:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else convert(row)

        return await self._worker.run(name, job)

    async def _all(self, name: str, sql: str, params: tuple[Any, ...], convert: Callable[[Any], T]) -> list[T]:
        """Every row a statement returns, converted."""
        return await self._worker.run(name, lambda conn: [convert(r) for r in conn.execute(sql, params)])

    async def _messages(self, name: str, sql: str, params: tuple[Any, ...]) -> list[OutboundMessage]:
        """The outbox rows a statement returns, as messages."""
        return await self._all(name, sql, params, _rows.message_from_row)

    async def _outcome(self, name: str, sql: str, params: tuple[Any, ...], attempt: DeliveryAttempt | None) -> bool:
        """A lease holder's outcome and, when it happened, its attempt's history line: one writer job, one commit."""
        values = None if attempt is None else _console_sql.attempt_values(attempt)

        def job(conn: sqlite3.Connection) -> bool:
            if conn.execute(sql, params).rowcount != 1:
                return False
            if values is not None:
                conn.execute(_NOTE_ATTEMPT, values)
            return True

        return await self._worker.run(name, job)

    async def mark_delivered(
        self, id: str, owner: str, receipt: bytes | None, now: float, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        return await self._outcome("mark_delivered", _sql.MARK_DELIVERED, (receipt, now, id, owner), attempt)

    async def schedule_retry(
        self,
        id: str,
        owner: str,
        next_attempt_at: float,
        error_code: str,
        error: str,
        *,
        attempt: DeliveryAttempt | None = None,
    ) -> bool:
        params = (next_attempt_at, error_code, error, id, owner)
        return await self._outcome("schedule_retry", _sql.SCHEDULE_RETRY, params, attempt)

    async def dead_letter(
        self, id: str, owner: str, error_code: str, error: str, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        return await self._outcome("dead_letter", _sql.DEAD_LETTER, (error_code, error, id, owner), attempt)

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        return await self._count("release_claims", _sql.RELEASE_CLAIMS, (now, error_code, error, owner))

    # --- operators --------------------------------------------------------------------------

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        _sql.check_listing(state, limit, offset)
        sql, params = _sql.list_messages(state, destination)

        return await self._messages("list_messages", sql, (*params, limit, offset))

    async def get_message(self, id: str) -> OutboundMessage | None:
        return await self._one("get_message", _sql.GET_MESSAGE, (id,), _rows.message_from_row)

    async def retry_dead(self, id: str, now: float) -> bool:
        return await self._changed("retry_dead", _sql.RETRY_DEAD, (now, now, id))

    async def followers(self, id: str) -> list[OutboundMessage]:
        return await self._messages("followers", _sql.FOLLOWERS, (id,))

    async def discard(self, id: str) -> bool:
        return await self._changed("discard", _sql.DISCARD, (id,))

    async def purge_delivered(self, before: float) -> int:
        def job(conn: sqlite3.Connection) -> int:
            gone = conn.execute(_sql.PURGE_DELIVERED, (before,)).rowcount
            conn.execute(_console_sql.PURGE_ORPHAN_ATTEMPTS)  # their attempt histories go with them
            return gone

        return await self._worker.run("purge_delivered", job)

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        return await self._worker.run(
            "outbox_stats", lambda conn: _rows.stats_from_rows(conn.execute(_sql.STATS).fetchall(), now)
        )

    # --- replay guard and sequence guard ----------------------------------------------------

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        params = (scope, nonce, expires_at, now)
        return await self._worker.run(
            "remember_nonce", lambda conn: conn.execute(_sql.REMEMBER_NONCE, params).fetchone() is not None
        )

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        await self._count("forget_nonce", _sql.FORGET_NONCE, (scope, nonce))

    async def purge_nonces(self, now: float) -> int:
        return await self._count("purge_nonces", _sql.PURGE_NONCES, (now,))

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        sql = "DELETE FROM inbound WHERE source = ? AND received_at < ? AND kind IN (SELECT value FROM json_each(?))"
        return await self._count("purge_inbound", sql, (source, before, json.dumps(list(kinds))))

    async def record_seq(self, case_no: str, seq: int) -> int:
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq!r}")
        sql = (
            "INSERT INTO case_seq (case_no, max_seq) VALUES (?, ?) ON CONFLICT (case_no)"
            " DO UPDATE SET max_seq = MAX(case_seq.max_seq, excluded.max_seq) RETURNING max_seq"
        )
        return await self._worker.run("record_seq", lambda conn: int(conn.execute(sql, (case_no, seq)).fetchone()[0]))

    # --- catalogue sync ---------------------------------------------------------------------

    async def get_item_hashes(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        wanted = json.dumps(list(keys))
        sql = "SELECT item_key, hash FROM item_hashes WHERE source = ? AND item_key IN (SELECT value FROM json_each(?))"
        return await self._worker.run(
            "get_item_hashes", lambda conn: {r[0]: r[1] for r in conn.execute(sql, (source, wanted))}
        )

    async def put_item_hashes(self, source: str, hashes: Mapping[str, str]) -> None:
        rows = [(source, key, value) for key, value in hashes.items()]
        sql = (
            "INSERT INTO item_hashes (source, item_key, hash) VALUES (?, ?, ?)"
            " ON CONFLICT (source, item_key) DO UPDATE SET hash = excluded.hash"
        )
        await self._worker.run("put_item_hashes", lambda conn: conn.executemany(sql, rows) and None)

    async def get_checkpoint(self, job: str) -> str | None:
        return await self._one("get_checkpoint", _sql.GET_CHECKPOINT, (job,), lambda row: str(row[0]))

    async def put_checkpoint(self, job: str, value: str) -> None:
        await self._count("put_checkpoint", _sql.PUT_CHECKPOINT, (job, value))

    # --- console operators -----------------------------------------------------------------

    async def put_operator(self, account: OperatorAccount) -> None:
        values = (account.name, account.role, account.password_hash, account.created_at, int(account.single_use))
        await self._count("put_operator", _sql.PUT_OPERATOR, values)

    async def get_operator(self, name: str) -> OperatorAccount | None:
        return await self._one("get_operator", _sql.GET_OPERATOR, (name,), _rows.operator_from_row)

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        return await self._changed("spend_single_use", _sql.SPEND_SINGLE_USE, (name, password_hash))

    # --- lifecycle --------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._worker.run("ping", lambda conn: conn.execute("SELECT 1").fetchone() and None)

    async def close(self) -> None:
        await self._worker.stop()

    # --- console: delivery attempts, outbox search, shared sessions (migrations 9 and 10) -----

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        await self._count("record_attempt", _RECORD_ATTEMPT, _console_sql.attempt_values(attempt))

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        sql = _console_sql.list_attempts_sql(_qmark)
        return await self._all("list_attempts", sql, (outbox_id, limit), _console_sql.attempt_from_row)

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        sql, params = _console_sql.find_messages_sql(query, _qmark)
        return await self._messages("find_messages", sql, tuple(params))

    async def put_session(self, session: ConsoleSession, idle_before: float, max_sessions: int) -> None:
        insert = _console_sql.insert_sql("console_sessions", _console_sql.SESSION_COLUMNS, _qmark)
        bound = _console_sql.bound_sessions_sql(_qmark)

        def job(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM console_sessions WHERE last_seen <= ?", (idle_before,))
            conn.execute(insert, _console_sql.session_values(session))
            conn.execute(bound, (max(max_sessions - 1, 0),))

        await self._worker.run("put_session", job)

    async def touch_session(self, token_sha256: str, idle_before: float, now: float) -> ConsoleSession | None:
        sql = _console_sql.touch_session_sql(_qmark)

        def job(conn: sqlite3.Connection) -> ConsoleSession | None:
            row = conn.execute(sql, (token_sha256, idle_before, now)).fetchone()
            if row is None:
                conn.execute("DELETE FROM console_sessions WHERE token_sha256 = ?", (token_sha256,))
                return None
            return _console_sql.session_from_row(row)

        return await self._worker.run("touch_session", job)

    async def update_session(self, token_sha256: str, lang: str) -> None:
        sql = "UPDATE console_sessions SET lang = ? WHERE token_sha256 = ?"
        await self._count("update_session", sql, (lang, token_sha256))

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        sql = "DELETE FROM console_sessions WHERE token_sha256 = ? OR name = ?"
        return await self._count("end_sessions", sql, (token_sha256, name))

    async def list_operators(self) -> list[OperatorAccount]:
        return await self._all("list_operators", _sql.LIST_OPERATORS, (), _rows.operator_from_row)


def _qmark(n: int) -> str:
    return f"?{n}"  # numbered: the console's statements name their parameters out of textual order


_RECORD_ATTEMPT: Final = _console_sql.insert_sql("delivery_attempts", _console_sql.ATTEMPT_COLUMNS, _qmark)
#: an outcome's own history line: a line already there (same message, attempt and time) never undoes the outcome
_NOTE_ATTEMPT: Final = f"{_RECORD_ATTEMPT} ON CONFLICT DO NOTHING"
