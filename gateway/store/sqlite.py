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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import _console_sql, _rows
from ._sqlite_worker import SQLiteWorker, wal_connector
from .api import (
    STATES,
    Accepted,
    ConsoleSession,
    DeliveryAttempt,
    DestinationStats,
    InboundRecord,
    OperatorAccount,
    OutboundMessage,
    OutboxQuery,
)
from .migrate import migrate_sqlite
from .migrations import STORE_SCHEMA
from .transitions import holding_sql, sources_sql

__all__ = ["SQLiteStore"]

_COLS = ", ".join(_rows.OUTBOX_COLUMNS)
# SQL is assembled from these module constants only, never from caller data (hence the S608 noqa).
_INSERT_OUTBOX = f"INSERT INTO outbox ({_COLS}) VALUES ({', '.join('?' * len(_rows.OUTBOX_COLUMNS))})"  # noqa: S608
_INSERT_INBOUND = (
    "INSERT INTO inbound (kind, idem_key, source, received_at, receipt, receipt_type)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, idem_key) DO NOTHING"
)
# Only the lease holder may record an outcome; recording one ends the lease.
_HELD = f"lease_owner = NULL, lease_until = NULL WHERE id = ? AND state IN {sources_sql('deliver')} AND lease_owner = ?"
# A row of ``o`` is held back while an earlier message of its order key to its destination is not finished.
_FREE = (
    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination"  # noqa: S608
    f" AND p.order_key = o.order_key AND p.order_seq < o.order_seq AND p.state IN {holding_sql()})"
)


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
    async def open(cls, path: str | Path, *, busy_timeout: float = 5.0, batch_max: int = 512) -> SQLiteStore:
        """Open (creating if needed) and migrate the database file at ``path``."""
        def migrate(conn: sqlite3.Connection) -> tuple[int, ...]:
            return migrate_sqlite(conn, STORE_SCHEMA)

        worker = SQLiteWorker(wal_connector(str(path), busy_timeout), migrate, batch_max=batch_max)
        migrated = await worker.start()
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
            if conn.execute(_INSERT_INBOUND, inbound_values).rowcount == 0:
                row = conn.execute(
                    "SELECT receipt, receipt_type FROM inbound WHERE kind = ? AND idem_key = ?",
                    (inbound.kind, inbound.key),
                ).fetchone()
                return Accepted(new=False, receipt=bytes(row["receipt"]), receipt_type=row["receipt_type"])
            conn.executemany(_INSERT_OUTBOX, outbox_values)
            return Accepted(new=True, receipt=inbound.receipt, receipt_type=inbound.receipt_type)

        return await self._worker.run("accept", job)

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        def job(conn: sqlite3.Connection) -> InboundRecord | None:
            row = conn.execute(
                "SELECT kind, idem_key, source, received_at, receipt, receipt_type"
                " FROM inbound WHERE kind = ? AND idem_key = ?",
                (kind, key),
            ).fetchone()
            return None if row is None else _rows.inbound_from_row(row)

        return await self._worker.run("get_receipt", job)

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        # a range on the primary key (kind, idem_key) instead of LIKE, so the index serves it
        upper = key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1) if key_prefix else "\uffff"

        def job(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT source FROM inbound WHERE kind = ? AND idem_key >= ? AND idem_key < ?"
                " ORDER BY received_at DESC LIMIT 1",
                (kind, key_prefix, upper),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._worker.run("latest_source", job)

    # --- delivery workers -------------------------------------------------------------------

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        if limit < 1 or lease_seconds <= 0:
            raise ValueError(
                f"claim_due needs limit >= 1 and lease_seconds > 0, got {limit!r}, {lease_seconds!r}"
            )
        dest = "" if destination is None else " AND o.destination = :destination"
        # UNION ALL lets each half use its partial index (outbox_due, outbox_leased).
        sql = (
            "UPDATE outbox SET state = 'delivering', lease_owner = :owner, lease_until = :until,"  # noqa: S608
            " attempts = attempts + 1 WHERE id IN (SELECT id FROM ("
            " SELECT o.id, o.next_attempt_at FROM outbox o"
            f" WHERE o.state = 'pending' AND o.next_attempt_at <= :now{dest}{_FREE}"
            " UNION ALL SELECT o.id, o.next_attempt_at FROM outbox o"
            f" WHERE o.state = 'delivering' AND o.lease_until <= :now{dest}{_FREE}"
            f") ORDER BY next_attempt_at, id LIMIT :limit) RETURNING {_COLS}"
        )
        params = {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit}
        if destination is not None:
            params["destination"] = destination

        def job(conn: sqlite3.Connection) -> list[OutboundMessage]:
            rows = conn.execute(sql, params).fetchall()
            return sorted(map(_rows.message_from_row, rows), key=lambda m: (m.next_attempt_at, m.id))

        return await self._worker.run("claim_due", job)

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        sql = (
            f"UPDATE outbox SET lease_until = ? WHERE id = ? AND state IN {sources_sql('renew')}"  # noqa: S608
            " AND lease_owner = ?"
        )
        params = (lease_until, id, owner)
        return await self._worker.run("renew_lease", lambda conn: conn.execute(sql, params).rowcount == 1)

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        sql = (
            "UPDATE outbox SET state = 'dead', last_error_code = ?, last_error = ?,"  # noqa: S608
            " lease_owner = NULL, lease_until = NULL WHERE destination = ?"
            f" AND state IN {sources_sql('expire')} AND COALESCE(schedule_start, created_at) <= ?"
            f" AND (state = 'pending' OR lease_until <= ?) RETURNING {_COLS}"
        )
        params = (error_code, error, destination, started_before, now)
        return await self._worker.run(
            "expire", lambda conn: [_rows.message_from_row(r) for r in conn.execute(sql, params).fetchall()]
        )

    async def _held_update(self, name: str, assignments: str, params: tuple[Any, ...]) -> bool:
        sql = f"UPDATE outbox SET {assignments}, {_HELD}"  # noqa: S608
        return await self._worker.run(name, lambda conn: conn.execute(sql, params).rowcount == 1)

    async def mark_delivered(self, id: str, owner: str, receipt: bytes | None, now: float) -> bool:
        return await self._held_update(
            "mark_delivered",
            "state = 'delivered', delivery_receipt = ?, delivered_at = ?",
            (receipt, now, id, owner),
        )

    async def schedule_retry(
        self, id: str, owner: str, next_attempt_at: float, error_code: str, error: str
    ) -> bool:
        return await self._held_update(
            "schedule_retry",
            "state = 'pending', next_attempt_at = ?, last_error_code = ?, last_error = ?",
            (next_attempt_at, error_code, error, id, owner),
        )

    async def dead_letter(self, id: str, owner: str, error_code: str, error: str) -> bool:
        return await self._held_update(
            "dead_letter",
            "state = 'dead', last_error_code = ?, last_error = ?",
            (error_code, error, id, owner),
        )

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        sql = (
            "UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error_code = ?, last_error = ?,"
            " lease_owner = NULL, lease_until = NULL WHERE state = 'delivering' AND lease_owner = ?"
        )
        params = (now, error_code, error, owner)
        return await self._worker.run("release_claims", lambda conn: conn.execute(sql, params).rowcount)

    # --- operators --------------------------------------------------------------------------

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {sorted(STATES)} or None, got {state!r}")
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got {limit!r}, {offset!r}")
        conditions = ["1 = 1"]
        params: list[Any] = []
        if state is not None:
            conditions.append("state = ?")
            params.append(state)
        if destination is not None:
            conditions.append("destination = ?")
            params.append(destination)
        sql = (
            f"SELECT {_COLS} FROM outbox WHERE {' AND '.join(conditions)}"  # noqa: S608
            " ORDER BY created_at, id LIMIT ? OFFSET ?"
        )

        def job(conn: sqlite3.Connection) -> list[OutboundMessage]:
            return [_rows.message_from_row(r) for r in conn.execute(sql, (*params, limit, offset))]

        return await self._worker.run("list_messages", job)

    async def get_message(self, id: str) -> OutboundMessage | None:
        def job(conn: sqlite3.Connection) -> OutboundMessage | None:
            row = conn.execute(f"SELECT {_COLS} FROM outbox WHERE id = ?", (id,)).fetchone()  # noqa: S608
            return None if row is None else _rows.message_from_row(row)

        return await self._worker.run("get_message", job)

    async def retry_dead(self, id: str, now: float) -> bool:
        sql = (
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, schedule_start = ?"  # noqa: S608
            f" WHERE id = ? AND state IN {sources_sql('replay')}"
        )
        return await self._worker.run("retry_dead", lambda conn: conn.execute(sql, (now, now, id)).rowcount == 1)

    async def followers(self, id: str) -> list[OutboundMessage]:
        sql = (
            f"SELECT {', '.join('p.' + c for c in _rows.OUTBOX_COLUMNS)} FROM outbox o JOIN outbox p"  # noqa: S608
            " ON p.destination = o.destination AND p.order_key = o.order_key AND p.order_seq > o.order_seq"
            " WHERE o.id = ? AND p.state != 'delivered' ORDER BY p.order_seq, p.created_at, p.id"
        )
        return await self._worker.run(
            "followers", lambda conn: [_rows.message_from_row(r) for r in conn.execute(sql, (id,))]
        )

    async def discard(self, id: str) -> bool:
        sql = f"DELETE FROM outbox WHERE id = ? AND state IN {sources_sql('discard')}"  # noqa: S608
        return await self._worker.run("discard", lambda conn: conn.execute(sql, (id,)).rowcount == 1)

    async def purge_delivered(self, before: float) -> int:
        sql = f"DELETE FROM outbox WHERE state IN {sources_sql('purge')} AND delivered_at < ?"  # noqa: S608

        def job(conn: sqlite3.Connection) -> int:
            gone = conn.execute(sql, (before,)).rowcount
            conn.execute(_console_sql.PURGE_ORPHAN_ATTEMPTS)  # their attempt histories go with them
            return gone

        return await self._worker.run("purge_delivered", job)

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        sql = (
            "SELECT destination, state, COUNT(*) AS n, MIN(created_at) AS oldest"
            " FROM outbox GROUP BY destination, state"
        )
        return await self._worker.run(
            "outbox_stats", lambda conn: _rows.stats_from_rows(conn.execute(sql).fetchall(), now)
        )

    # --- replay guard and sequence guard ----------------------------------------------------

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        sql = (
            "INSERT INTO nonces (scope, nonce, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = excluded.expires_at"
            " WHERE nonces.expires_at <= ? RETURNING 1"
        )
        params = (scope, nonce, expires_at, now)
        return await self._worker.run(
            "remember_nonce", lambda conn: conn.execute(sql, params).fetchone() is not None
        )

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        sql = "DELETE FROM nonces WHERE scope = ? AND nonce = ?"
        await self._worker.run("forget_nonce", lambda conn: conn.execute(sql, (scope, nonce)))

    async def purge_nonces(self, now: float) -> int:
        sql = "DELETE FROM nonces WHERE expires_at <= ?"
        return await self._worker.run("purge_nonces", lambda conn: conn.execute(sql, (now,)).rowcount)

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        sql = (
            "DELETE FROM inbound WHERE source = ? AND received_at < ?"
            " AND kind IN (SELECT value FROM json_each(?))"
        )
        params = (source, before, json.dumps(list(kinds)))
        return await self._worker.run("purge_inbound", lambda conn: conn.execute(sql, params).rowcount)

    async def record_seq(self, case_no: str, seq: int) -> int:
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq!r}")
        sql = (
            "INSERT INTO case_seq (case_no, max_seq) VALUES (?, ?) ON CONFLICT (case_no)"
            " DO UPDATE SET max_seq = MAX(case_seq.max_seq, excluded.max_seq) RETURNING max_seq"
        )
        return await self._worker.run(
            "record_seq", lambda conn: int(conn.execute(sql, (case_no, seq)).fetchone()[0])
        )

    # --- catalogue sync ---------------------------------------------------------------------

    async def get_item_hashes(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        wanted = json.dumps(list(keys))
        sql = (
            "SELECT item_key, hash FROM item_hashes"
            " WHERE source = ? AND item_key IN (SELECT value FROM json_each(?))"
        )
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
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM checkpoints WHERE job = ?", (job,)).fetchone()
            return None if row is None else str(row[0])

        return await self._worker.run("get_checkpoint", read)

    async def put_checkpoint(self, job: str, value: str) -> None:
        sql = (
            "INSERT INTO checkpoints (job, value) VALUES (?, ?)"
            " ON CONFLICT (job) DO UPDATE SET value = excluded.value"
        )
        await self._worker.run("put_checkpoint", lambda conn: conn.execute(sql, (job, value)) and None)

    # --- console operators -----------------------------------------------------------------

    async def put_operator(self, account: OperatorAccount) -> None:
        sql = (
            "INSERT INTO console_operators (name, role, password_hash, created_at, single_use) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,"
            " created_at = excluded.created_at, single_use = excluded.single_use"
        )
        values = (account.name, account.role, account.password_hash, account.created_at, int(account.single_use))
        await self._worker.run("put_operator", lambda conn: conn.execute(sql, values) and None)

    async def get_operator(self, name: str) -> OperatorAccount | None:
        def read(conn: sqlite3.Connection) -> OperatorAccount | None:
            row = conn.execute(
                "SELECT name, role, password_hash, created_at, single_use FROM console_operators WHERE name = ?",
                (name,),
            ).fetchone()
            return None if row is None else OperatorAccount(row[0], row[1], row[2], row[3], bool(row[4]))

        return await self._worker.run("get_operator", read)

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        sql = (
            "UPDATE console_operators SET password_hash = '!spent' WHERE name = ? AND single_use = 1"
            " AND password_hash = ?"
        )
        return bool(
            await self._worker.run("spend_single_use", lambda conn: conn.execute(sql, (name, password_hash)).rowcount)
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._worker.run("ping", lambda conn: conn.execute("SELECT 1").fetchone() and None)

    async def close(self) -> None:
        await self._worker.stop()

    # --- console: delivery attempts, outbox search, shared sessions (migrations 9 and 10) -----

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        sql = _console_sql.insert_sql("delivery_attempts", _console_sql.ATTEMPT_COLUMNS, _qmark)
        values = _console_sql.attempt_values(attempt)
        await self._worker.run("record_attempt", lambda conn: conn.execute(sql, values) and None)

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        sql = _console_sql.list_attempts_sql(_qmark)
        return await self._worker.run(
            "list_attempts",
            lambda conn: [_console_sql.attempt_from_row(r) for r in conn.execute(sql, (outbox_id, limit))],
        )

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        sql, params = _console_sql.find_messages_sql(query, _qmark)
        return await self._worker.run(
            "find_messages", lambda conn: [_rows.message_from_row(r) for r in conn.execute(sql, params)]
        )

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
        await self._worker.run("update_session", lambda conn: conn.execute(sql, (lang, token_sha256)) and None)

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        sql = "DELETE FROM console_sessions WHERE token_sha256 = ? OR name = ?"
        return await self._worker.run("end_sessions", lambda conn: conn.execute(sql, (token_sha256, name)).rowcount)

    async def list_operators(self) -> list[OperatorAccount]:
        sql = "SELECT name, role, password_hash, created_at, single_use FROM console_operators ORDER BY name"
        return await self._worker.run(
            "list_operators",
            lambda conn: [OperatorAccount(r[0], r[1], r[2], r[3], bool(r[4])) for r in conn.execute(sql)],
        )


def _qmark(n: int) -> str:
    return f"?{n}"  # numbered: the console's statements name their parameters out of textual order
