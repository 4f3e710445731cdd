"""The shared store: PostgreSQL through an asyncpg pool, for several gateway instances.

Why it is safe with many instances: ``accept`` relies on the primary key of ``inbound`` with
``INSERT ... ON CONFLICT DO NOTHING`` inside one transaction (a concurrent duplicate waits for the
first and then inserts nothing); ``claim_due`` locks its rows with ``FOR UPDATE SKIP LOCKED`` inside
the ``UPDATE ... RETURNING``, so two instances never lease one message; outcomes are recorded only
by the lease holder. Migrations run under a transaction-scoped advisory lock, so instances starting
together migrate once. No group commit here: the pool already gives concurrent commits.

An optional schema (``?schema=name`` in the URL) becomes the connections' ``search_path``; tests use
it to isolate themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from . import _console_sql, _rows
from ._pg_pool import open_pool, run_pooled
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
from .errors import StoreError
from .migrate import migrate_postgres
from .migrations import STORE_SCHEMA
from .transitions import holding_sql, sources_sql

__all__ = ["PostgresStore"]

T = TypeVar("T")

_COLS: Final = ", ".join(_rows.OUTBOX_COLUMNS)
_O_COLS: Final = ", ".join(f"o.{c}" for c in _rows.OUTBOX_COLUMNS)
# SQL is assembled from these module constants only, never from caller data (hence the S608 noqa).
# accept() in ONE statement (one round trip on the event loop instead of BEGIN, two INSERTs and COMMIT): the outbox
# rows come as one array per column and are inserted only when the inbound record was new.
_NOT_TEXT: Final = {"payload": "bytea", "delivery_receipt": "bytea", "attempts": "int8", "created_at": "float8",
                    "next_attempt_at": "float8", "lease_until": "float8", "delivered_at": "float8",
                    "order_seq": "int8", "schedule_start": "float8"}
_ARRAYS: Final = ", ".join(
    f"${i}::{_NOT_TEXT.get(column, 'text')}[]" for i, column in enumerate(_rows.OUTBOX_COLUMNS, start=7)
)
_ACCEPT: Final = (
    "WITH new_inbound AS ("  # noqa: S608
    " INSERT INTO inbound (kind, idem_key, source, received_at, receipt, receipt_type)"
    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, idem_key) DO NOTHING RETURNING true),"
    f" new_outbox AS (INSERT INTO outbox ({_COLS}) SELECT * FROM unnest({_ARRAYS})"
    " WHERE EXISTS (SELECT 1 FROM new_inbound) RETURNING true)"
    " SELECT EXISTS (SELECT 1 FROM new_inbound)"
)
_HELD: Final = (
    f"lease_owner = NULL, lease_until = NULL WHERE id = $1 AND state IN {sources_sql('deliver')} AND lease_owner = $2"
)
# A row of ``o`` is held back while an earlier message of its order key to its destination is not finished.
_FREE: Final = (
    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination"  # noqa: S608
    f" AND p.order_key = o.order_key AND p.order_seq < o.order_seq AND p.state IN {holding_sql()})"
)


class PostgresStore:
    """:class:`~gateway.store.api.Store` on PostgreSQL. Build it with :meth:`open`."""

    def __init__(self, pool: Any, schema: str | None, migrated: tuple[int, ...]) -> None:
        self._pool = pool
        self.schema = schema
        #: Migration versions this open applied (empty when the schema was already current).
        self.migrated = migrated

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> PostgresStore:
        """Connect a pool to ``dsn`` (a libpq URL), create ``schema`` if given, and migrate."""
        pool = await open_pool(
            dsn, schema, min_size=min_size, max_size=max_size, connect_timeout=connect_timeout
        )
        store = cls(pool, schema, ())
        try:
            store.migrated = await store._run("migrate", lambda conn: migrate_postgres(conn, STORE_SCHEMA, schema))
        except BaseException:
            await pool.close()
            raise
        return store

    async def _run(self, name: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(connection)`` on a pooled connection, translating driver errors once, here."""
        return await run_pooled(self._pool, name, fn)

    # --- inbound + outbox -------------------------------------------------------------------

    async def accept(self, inbound: InboundRecord, outbound: Sequence[OutboundMessage]) -> Accepted:
        _rows.check_new_outbound(outbound)
        rows = [_rows.message_values(m) for m in outbound]
        columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in _rows.OUTBOX_COLUMNS]

        async def job(conn: Any) -> Accepted:
            inserted = await conn.fetchval(
                _ACCEPT, inbound.kind, inbound.key, inbound.source, inbound.received_at, inbound.receipt,
                inbound.receipt_type, *columns,
            )  # fmt: skip
            if inserted:
                return Accepted(new=True, receipt=inbound.receipt, receipt_type=inbound.receipt_type)
            # a repeat: read the first receipt in a statement of its own, which sees a concurrent first commit
            row = await conn.fetchrow(
                "SELECT receipt, receipt_type FROM inbound WHERE kind = $1 AND idem_key = $2", inbound.kind, inbound.key
            )
            if row is None:
                raise StoreError("accept", "the conflicting inbound record vanished")
            return Accepted(new=False, receipt=bytes(row["receipt"]), receipt_type=row["receipt_type"])

        return await self._run("accept", job)

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        sql = (
            "SELECT kind, idem_key, source, received_at, receipt, receipt_type"
            " FROM inbound WHERE kind = $1 AND idem_key = $2"
        )
        row = await self._run("get_receipt", lambda conn: conn.fetchrow(sql, kind, key))
        return None if row is None else _rows.inbound_from_row(row)

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        upper = key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1) if key_prefix else "\uffff"
        sql = (
            'SELECT source FROM inbound WHERE kind = $1 AND idem_key COLLATE "C" >= $2 AND idem_key COLLATE "C" < $3'
            " ORDER BY received_at DESC LIMIT 1"
        )
        value = await self._run("latest_source", lambda conn: conn.fetchval(sql, kind, key_prefix, upper))
        return None if value is None else str(value)

    # --- delivery workers -------------------------------------------------------------------

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        if limit < 1 or lease_seconds <= 0:
            raise ValueError(
                f"claim_due needs limit >= 1 and lease_seconds > 0, got {limit!r}, {lease_seconds!r}"
            )
        dest = "" if destination is None else " AND o.destination = $5"
        sql = (
            "WITH due AS (SELECT o.id FROM outbox o WHERE ((o.state = 'pending' AND o.next_attempt_at <= $1)"  # noqa: S608
            f" OR (o.state = 'delivering' AND o.lease_until <= $1)){dest}{_FREE}"
            " ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED)"
            " UPDATE outbox AS o SET state = 'delivering', lease_owner = $3, lease_until = $4,"
            f" attempts = o.attempts + 1 FROM due WHERE o.id = due.id RETURNING {_O_COLS}"
        )
        args: list[Any] = [float(now), limit, owner, float(now + lease_seconds)]
        if destination is not None:
            args.append(destination)
        rows = await self._run("claim_due", lambda conn: conn.fetch(sql, *args))
        return sorted(map(_rows.message_from_row, rows), key=lambda m: (m.next_attempt_at, m.id))

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        sql = (
            f"UPDATE outbox SET lease_until = $3 WHERE id = $1 AND state IN {sources_sql('renew')}"  # noqa: S608
            " AND lease_owner = $2"
        )
        status = await self._run("renew_lease", lambda conn: conn.execute(sql, id, owner, float(lease_until)))
        return bool(status == "UPDATE 1")

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        sql = (
            "UPDATE outbox SET state = 'dead', last_error_code = $1, last_error = $2,"  # noqa: S608
            " lease_owner = NULL, lease_until = NULL WHERE destination = $3"
            f" AND state IN {sources_sql('expire')} AND COALESCE(schedule_start, created_at) <= $4"
            f" AND (state = 'pending' OR lease_until <= $5) RETURNING {_COLS}"
        )
        args = (error_code, error, destination, float(started_before), float(now))
        rows = await self._run("expire", lambda conn: conn.fetch(sql, *args))
        return [_rows.message_from_row(r) for r in rows]

    async def _held_update(self, name: str, assignments: str, *args: Any) -> bool:
        sql = f"UPDATE outbox SET {assignments}, {_HELD}"  # noqa: S608
        status = await self._run(name, lambda conn: conn.execute(sql, *args))
        return bool(status == "UPDATE 1")

    async def mark_delivered(self, id: str, owner: str, receipt: bytes | None, now: float) -> bool:
        return await self._held_update(
            "mark_delivered",
            "state = 'delivered', delivery_receipt = $3, delivered_at = $4",
            id,
            owner,
            receipt,
            now,
        )

    async def schedule_retry(
        self, id: str, owner: str, next_attempt_at: float, error_code: str, error: str
    ) -> bool:
        return await self._held_update(
            "schedule_retry",
            "state = 'pending', next_attempt_at = $3, last_error_code = $4, last_error = $5",
            id, owner, float(next_attempt_at), error_code, error,
        )  # fmt: skip

    async def dead_letter(self, id: str, owner: str, error_code: str, error: str) -> bool:
        return await self._held_update(
            "dead_letter",
            "state = 'dead', last_error_code = $3, last_error = $4",
            id,
            owner,
            error_code,
            error,
        )

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        sql = (
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error_code = $2, last_error = $3,"
            " lease_owner = NULL, lease_until = NULL WHERE state = 'delivering' AND lease_owner = $4"
        )
        status = await self._run("release_claims", lambda conn: conn.execute(sql, float(now), error_code, error, owner))
        return _count(status)

    # --- operators --------------------------------------------------------------------------

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {sorted(STATES)} or None, got {state!r}")
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got {limit!r}, {offset!r}")
        sql = (
            f"SELECT {_COLS} FROM outbox WHERE ($1::text IS NULL OR state = $1)"  # noqa: S608
            " AND ($2::text IS NULL OR destination = $2) ORDER BY created_at, id LIMIT $3 OFFSET $4"
        )
        rows = await self._run(
            "list_messages", lambda conn: conn.fetch(sql, state, destination, limit, offset)
        )
        return [_rows.message_from_row(r) for r in rows]

    async def get_message(self, id: str) -> OutboundMessage | None:
        sql = f"SELECT {_COLS} FROM outbox WHERE id = $1"  # noqa: S608
        row = await self._run("get_message", lambda conn: conn.fetchrow(sql, id))
        return None if row is None else _rows.message_from_row(row)

    async def retry_dead(self, id: str, now: float) -> bool:
        sql = (
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, schedule_start = $2"  # noqa: S608
            f" WHERE id = $1 AND state IN {sources_sql('replay')}"
        )
        return bool(
            await self._run("retry_dead", lambda conn: conn.execute(sql, id, float(now))) == "UPDATE 1"
        )

    async def followers(self, id: str) -> list[OutboundMessage]:
        sql = (
            f"SELECT {', '.join('p.' + c for c in _rows.OUTBOX_COLUMNS)} FROM outbox o JOIN outbox p"  # noqa: S608
            " ON p.destination = o.destination AND p.order_key = o.order_key AND p.order_seq > o.order_seq"
            " WHERE o.id = $1 AND p.state != 'delivered' ORDER BY p.order_seq, p.created_at, p.id"
        )
        rows = await self._run("followers", lambda conn: conn.fetch(sql, id))
        return [_rows.message_from_row(r) for r in rows]

    async def discard(self, id: str) -> bool:
        sql = f"DELETE FROM outbox WHERE id = $1 AND state IN {sources_sql('discard')}"  # noqa: S608
        return bool(await self._run("discard", lambda conn: conn.execute(sql, id)) == "DELETE 1")

    async def purge_delivered(self, before: float) -> int:
        sql = f"DELETE FROM outbox WHERE state IN {sources_sql('purge')} AND delivered_at < $1"  # noqa: S608

        async def job(conn: Any) -> int:
            async with conn.transaction():
                gone = _count(await conn.execute(sql, float(before)))
                await conn.execute(_console_sql.PURGE_ORPHAN_ATTEMPTS)  # their attempt histories go with them
                return gone

        return await self._run("purge_delivered", job)

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        sql = (
            "SELECT destination, state, COUNT(*) AS n, MIN(created_at) AS oldest"
            " FROM outbox GROUP BY destination, state"
        )
        return _rows.stats_from_rows(await self._run("outbox_stats", lambda conn: conn.fetch(sql)), now)

    # --- replay guard and sequence guard ----------------------------------------------------

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        sql = (
            "INSERT INTO nonces (scope, nonce, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at"
            " WHERE nonces.expires_at <= $4 RETURNING true"
        )
        args = (scope, nonce, float(expires_at), float(now))
        return bool(await self._run("remember_nonce", lambda conn: conn.fetchval(sql, *args)))

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        sql = "DELETE FROM nonces WHERE scope = $1 AND nonce = $2"
        await self._run("forget_nonce", lambda conn: conn.execute(sql, scope, nonce))

    async def purge_nonces(self, now: float) -> int:
        sql = "DELETE FROM nonces WHERE expires_at <= $1"
        return _count(await self._run("purge_nonces", lambda conn: conn.execute(sql, float(now))))

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        sql = "DELETE FROM inbound WHERE source = $1 AND received_at < $2 AND kind = ANY($3::text[])"
        args = (source, float(before), list(kinds))
        return _count(await self._run("purge_inbound", lambda conn: conn.execute(sql, *args)))

    async def record_seq(self, case_no: str, seq: int) -> int:
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq!r}")
        sql = (
            "INSERT INTO case_seq (case_no, max_seq) VALUES ($1, $2) ON CONFLICT (case_no)"
            " DO UPDATE SET max_seq = GREATEST(case_seq.max_seq, EXCLUDED.max_seq) RETURNING max_seq"
        )
        return int(await self._run("record_seq", lambda conn: conn.fetchval(sql, case_no, seq)))

    # --- catalogue sync ---------------------------------------------------------------------

    async def get_item_hashes(self, source: str, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(keys)
        sql = "SELECT item_key, hash FROM item_hashes WHERE source = $1 AND item_key = ANY($2::text[])"
        rows = await self._run("get_item_hashes", lambda conn: conn.fetch(sql, source, wanted))
        return {r["item_key"]: r["hash"] for r in rows}

    async def put_item_hashes(self, source: str, hashes: Mapping[str, str]) -> None:
        if not hashes:
            return
        sql = (
            "INSERT INTO item_hashes (source, item_key, hash)"
            " SELECT $1, k, h FROM unnest($2::text[], $3::text[]) AS t(k, h)"
            " ON CONFLICT (source, item_key) DO UPDATE SET hash = EXCLUDED.hash"
        )
        keys, values = list(hashes), list(hashes.values())
        await self._run("put_item_hashes", lambda conn: conn.execute(sql, source, keys, values))

    async def get_checkpoint(self, job: str) -> str | None:
        sql = "SELECT value FROM checkpoints WHERE job = $1"
        value = await self._run("get_checkpoint", lambda conn: conn.fetchval(sql, job))
        return None if value is None else str(value)

    async def put_checkpoint(self, job: str, value: str) -> None:
        sql = (
            "INSERT INTO checkpoints (job, value) VALUES ($1, $2)"
            " ON CONFLICT (job) DO UPDATE SET value = EXCLUDED.value"
        )
        await self._run("put_checkpoint", lambda conn: conn.execute(sql, job, value))

    # --- console operators -----------------------------------------------------------------

    async def put_operator(self, account: OperatorAccount) -> None:
        sql = (
            "INSERT INTO console_operators (name, role, password_hash, created_at, single_use)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash,"
            " created_at = excluded.created_at, single_use = excluded.single_use"
        )
        await self._run("put_operator", lambda conn: conn.execute(
            sql, account.name, account.role, account.password_hash, float(account.created_at), int(account.single_use)
        ))  # fmt: skip

    async def get_operator(self, name: str) -> OperatorAccount | None:
        sql = "SELECT name, role, password_hash, created_at, single_use FROM console_operators WHERE name = $1"
        row = await self._run("get_operator", lambda conn: conn.fetchrow(sql, name))
        if row is None:
            return None
        return OperatorAccount(row["name"], row["role"], row["password_hash"], float(row["created_at"]),
                               bool(row["single_use"]))  # fmt: skip

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        sql = (
            "UPDATE console_operators SET password_hash = '!spent' WHERE name = $1 AND single_use = 1"
            " AND password_hash = $2"
        )
        return _count(await self._run("spend_single_use", lambda conn: conn.execute(sql, name, password_hash))) == 1

    # --- lifecycle --------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run("ping", lambda conn: conn.fetchval("SELECT 1"))

    async def close(self) -> None:
        await self._pool.close()

    # --- console: delivery attempts, outbox search, shared sessions (migrations 9 and 10) -----

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        sql = _console_sql.insert_sql("delivery_attempts", _console_sql.ATTEMPT_COLUMNS, _dollar)
        values = _console_sql.attempt_values(attempt)
        await self._run("record_attempt", lambda conn: conn.execute(sql, *values))

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        sql = _console_sql.list_attempts_sql(_dollar)
        rows = await self._run("list_attempts", lambda conn: conn.fetch(sql, outbox_id, limit))
        return [_console_sql.attempt_from_row(r) for r in rows]

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        sql, params = _console_sql.find_messages_sql(query, _dollar)
        rows = await self._run("find_messages", lambda conn: conn.fetch(sql, *params))
        return [_rows.message_from_row(r) for r in rows]

    async def put_session(self, session: ConsoleSession, idle_before: float, max_sessions: int) -> None:
        insert = _console_sql.insert_sql("console_sessions", _console_sql.SESSION_COLUMNS, _dollar)
        bound = _console_sql.bound_sessions_sql(_dollar)

        async def job(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("DELETE FROM console_sessions WHERE last_seen <= $1", float(idle_before))
                await conn.execute(insert, *_console_sql.session_values(session))
                await conn.execute(bound, max(max_sessions - 1, 0))

        await self._run("put_session", job)

    async def touch_session(self, token_sha256: str, idle_before: float, now: float) -> ConsoleSession | None:
        sql = _console_sql.touch_session_sql(_dollar)

        async def job(conn: Any) -> ConsoleSession | None:
            row = await conn.fetchrow(sql, token_sha256, float(idle_before), float(now))
            if row is None:
                await conn.execute("DELETE FROM console_sessions WHERE token_sha256 = $1", token_sha256)
                return None
            return _console_sql.session_from_row(row)

        return await self._run("touch_session", job)

    async def update_session(self, token_sha256: str, lang: str) -> None:
        sql = "UPDATE console_sessions SET lang = $1 WHERE token_sha256 = $2"
        await self._run("update_session", lambda conn: conn.execute(sql, lang, token_sha256))

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        sql = "DELETE FROM console_sessions WHERE token_sha256 = $1::text OR name = $2::text"
        return _count(await self._run("end_sessions", lambda conn: conn.execute(sql, token_sha256, name)))

    async def list_operators(self) -> list[OperatorAccount]:
        sql = "SELECT name, role, password_hash, created_at, single_use FROM console_operators ORDER BY name"
        rows = await self._run("list_operators", lambda conn: conn.fetch(sql))
        return [OperatorAccount(r[0], r[1], r[2], float(r[3]), bool(r[4])) for r in rows]


def _dollar(n: int) -> str:
    return f"${n}"


def _count(status: str) -> int:
    """The row count of a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])
