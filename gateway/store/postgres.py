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

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar, Unpack

from . import _console_sql, _rows, _sql
from ._pg_pool import PooledBackend, PoolOptions, open_migrated_pool, row_count
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
from .errors import StoreError
from .migrations import STORE_SCHEMA

__all__ = ["PostgresStore"]

T = TypeVar("T")

#: ``?`` statements of :mod:`._sql` as ``$n`` ones, rendered once each
_N: Final = functools.cache(_sql.numbered)
# SQL is assembled from these module constants only, never from caller data (hence the S608 noqa).
# accept() in ONE statement (one round trip on the event loop instead of BEGIN, two INSERTs and COMMIT): the outbox
# rows come as one array per column and are inserted only when the inbound record was new.
_NOT_TEXT: Final = {
    "payload": "bytea",
    "delivery_receipt": "bytea",
    "attempts": "int8",
    "created_at": "float8",
    "next_attempt_at": "float8",
    "lease_until": "float8",
    "delivered_at": "float8",
    "order_seq": "int8",
    "schedule_start": "float8",
}
_ARRAYS: Final = ", ".join(
    f"${i}::{_NOT_TEXT.get(column, 'text')}[]" for i, column in enumerate(_rows.OUTBOX_COLUMNS, start=7)
)
_ACCEPT: Final = (
    f"WITH new_inbound AS ({_N(_sql.INSERT_INBOUND)} RETURNING true),"  # noqa: S608
    f" new_outbox AS (INSERT INTO outbox ({_sql.COLS}) SELECT * FROM unnest({_ARRAYS})"
    " WHERE EXISTS (SELECT 1 FROM new_inbound) RETURNING true)"
    " SELECT EXISTS (SELECT 1 FROM new_inbound)"
)
_CLAIM_FOR_ALL: Final = _sql.claim_postgres(destination=False)
_CLAIM_FOR_ONE: Final = _sql.claim_postgres(destination=True)
_HALVES: Final = len(_sql.claimable(destination=False))
#: the casts of a delivery_attempts row's values in ``INSERT ... SELECT`` (there PostgreSQL infers no type)
_ATTEMPT_TYPES: Final = ("text", "int8", "float8", "text", "text", "float8")


@functools.cache
def _noting_attempt(update: str) -> str:
    """``update`` (a held transition of :mod:`._sql`) and the insert of its attempt's line, numbered, as ONE
    statement whose value is 1 when the transition happened (the line is inserted only then)."""
    marks = ", ".join(f"?::{t}" for t in _ATTEMPT_TYPES)
    return _sql.numbered(
        f"WITH done AS ({update} RETURNING id), noted AS (INSERT INTO delivery_attempts"  # noqa: S608
        f" ({', '.join(_console_sql.ATTEMPT_COLUMNS)}) SELECT {marks} FROM done ON CONFLICT DO NOTHING)"
        " SELECT count(*) FROM done"
    )


class PostgresStore(PooledBackend):
    """:class:`~gateway.store.api.Store` on PostgreSQL. Build it with :meth:`open`."""

    def __init__(self, pool: Any, schema: str | None, migrated: tuple[int, ...]) -> None:
        self._pool = pool
        self.schema = schema
        #: Migration versions this open applied (empty when the schema was already current).
        self.migrated = migrated

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    @classmethod
    async def open(cls, dsn: str, **options: Unpack[PoolOptions]) -> PostgresStore:
        """Connect a pool to ``dsn`` (a libpq URL), create the ``schema`` option if given, and migrate."""
        pool, migrated = await open_migrated_pool(dsn, STORE_SCHEMA, options)
        return cls(pool, options.get("schema"), migrated)

    async def _changed(self, name: str, sql: str, *args: Any) -> bool:
        """Run one statement that changes one row at most; whether it did."""
        return row_count(await self._run(name, lambda conn: conn.execute(sql, *args))) == 1

    async def _count(self, name: str, sql: str, *args: Any) -> int:
        """Run one statement; how many rows it changed."""
        return row_count(await self._run(name, lambda conn: conn.execute(sql, *args)))

    async def _all(self, name: str, convert: Callable[[Any], T], sql: str, *args: Any) -> list[T]:
        """Every row a statement returns, converted."""
        return [convert(r) for r in await self._run(name, lambda conn: conn.fetch(sql, *args))]

    async def _messages(self, name: str, sql: str, *args: Any) -> list[OutboundMessage]:
        """The outbox rows a statement returns, as messages."""
        return await self._all(name, _rows.message_from_row, sql, *args)

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
            row = await conn.fetchrow(_N(_sql.RECEIPT), inbound.kind, inbound.key)
            if row is None:
                raise StoreError("accept", "the conflicting inbound record vanished")
            return Accepted(new=False, receipt=bytes(row["receipt"]), receipt_type=row["receipt_type"])

        return await self._run("accept", job)

    async def get_receipt(self, kind: str, key: str) -> InboundRecord | None:
        row = await self._run("get_receipt", lambda conn: conn.fetchrow(_N(_sql.GET_RECEIPT), kind, key))
        return None if row is None else _rows.inbound_from_row(row)

    async def latest_source(self, kind: str, key_prefix: str) -> str | None:
        sql = (
            'SELECT source FROM inbound WHERE kind = $1 AND idem_key COLLATE "C" >= $2 AND idem_key COLLATE "C" < $3'
            " ORDER BY received_at DESC LIMIT 1"
        )
        end = _sql.prefix_end(key_prefix)
        value = await self._run("latest_source", lambda conn: conn.fetchval(sql, kind, key_prefix, end))
        return None if value is None else str(value)

    # --- delivery workers -------------------------------------------------------------------

    async def claim_due(
        self, now: float, limit: int, owner: str, lease_seconds: float, destination: str | None = None
    ) -> list[OutboundMessage]:
        _sql.check_claim(limit, lease_seconds)
        sql = _CLAIM_FOR_ONE if destination is not None else _CLAIM_FOR_ALL
        half = (float(now), limit) if destination is None else (float(now), destination, limit)
        rows = await self._messages("claim_due", sql, *half * _HALVES, limit, owner, float(now + lease_seconds))
        return sorted(rows, key=lambda m: (m.next_attempt_at, m.id))

    async def renew_lease(self, id: str, owner: str, lease_until: float) -> bool:
        return await self._changed("renew_lease", _N(_sql.RENEW_LEASE), float(lease_until), id, owner)

    async def expire(
        self, destination: str, started_before: float, now: float, error_code: str, error: str
    ) -> list[OutboundMessage]:
        return await self._messages(
            "expire", _N(_sql.EXPIRE), error_code, error, destination, float(started_before), float(now)
        )

    async def _outcome(self, name: str, update: str, args: tuple[Any, ...], attempt: DeliveryAttempt | None) -> bool:
        """A lease holder's outcome and, when it happened, its attempt's history line: one statement, one round
        trip (the update and the insert in CTEs of one ``WITH``)."""
        if attempt is None:
            return await self._changed(name, _N(update), *args)
        values = _console_sql.attempt_values(attempt)
        done = await self._run(name, lambda conn: conn.fetchval(_noting_attempt(update), *args, *values))
        return bool(done)

    async def mark_delivered(
        self, id: str, owner: str, receipt: bytes | None, now: float, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        return await self._outcome("mark_delivered", _sql.MARK_DELIVERED, (receipt, float(now), id, owner), attempt)

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
        args = (float(next_attempt_at), error_code, error, id, owner)
        return await self._outcome("schedule_retry", _sql.SCHEDULE_RETRY, args, attempt)

    async def dead_letter(
        self, id: str, owner: str, error_code: str, error: str, *, attempt: DeliveryAttempt | None = None
    ) -> bool:
        return await self._outcome("dead_letter", _sql.DEAD_LETTER, (error_code, error, id, owner), attempt)

    async def release_claims(self, owner: str, now: float, error_code: str, error: str) -> int:
        return await self._count("release_claims", _N(_sql.RELEASE_CLAIMS), float(now), error_code, error, owner)

    # --- operators --------------------------------------------------------------------------

    async def list_messages(
        self, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[OutboundMessage]:
        _sql.check_listing(state, limit, offset)
        sql, params = _sql.list_messages(state, destination)
        return await self._messages("list_messages", _N(sql), *params, limit, offset)

    async def get_message(self, id: str) -> OutboundMessage | None:
        row = await self._run("get_message", lambda conn: conn.fetchrow(_N(_sql.GET_MESSAGE), id))
        return None if row is None else _rows.message_from_row(row)

    async def retry_dead(self, id: str, now: float) -> bool:
        return await self._changed("retry_dead", _N(_sql.RETRY_DEAD), float(now), float(now), id)

    async def followers(self, id: str) -> list[OutboundMessage]:
        return await self._messages("followers", _N(_sql.FOLLOWERS), id)

    async def discard(self, id: str) -> bool:
        return await self._changed("discard", _N(_sql.DISCARD), id)

    async def purge_delivered(self, before: float) -> int:
        async def job(conn: Any) -> int:
            async with conn.transaction():
                gone = row_count(await conn.execute(_N(_sql.PURGE_DELIVERED), float(before)))
                await conn.execute(_console_sql.PURGE_ORPHAN_ATTEMPTS)  # their attempt histories go with them
                return gone

        return await self._run("purge_delivered", job)

    async def outbox_stats(self, now: float) -> dict[str, DestinationStats]:
        return _rows.stats_from_rows(await self._run("outbox_stats", lambda conn: conn.fetch(_sql.STATS)), now)

    # --- replay guard and sequence guard ----------------------------------------------------

    async def remember_nonce(self, scope: str, nonce: str, expires_at: float, now: float) -> bool:
        args = (scope, nonce, float(expires_at), float(now))
        return await self._run("remember_nonce", lambda conn: conn.fetchval(_N(_sql.REMEMBER_NONCE), *args)) is not None

    async def forget_nonce(self, scope: str, nonce: str) -> None:
        await self._count("forget_nonce", _N(_sql.FORGET_NONCE), scope, nonce)

    async def purge_nonces(self, now: float) -> int:
        return await self._count("purge_nonces", _N(_sql.PURGE_NONCES), float(now))

    async def purge_inbound(self, source: str, kinds: Sequence[str], before: float) -> int:
        sql = "DELETE FROM inbound WHERE source = $1 AND received_at < $2 AND kind = ANY($3::text[])"
        return await self._count("purge_inbound", sql, source, float(before), list(kinds))

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
        value = await self._run("get_checkpoint", lambda conn: conn.fetchval(_N(_sql.GET_CHECKPOINT), job))
        return None if value is None else str(value)

    async def put_checkpoint(self, job: str, value: str) -> None:
        await self._count("put_checkpoint", _N(_sql.PUT_CHECKPOINT), job, value)

    # --- console operators -----------------------------------------------------------------

    async def put_operator(self, account: OperatorAccount) -> None:
        await self._count(
            "put_operator", _N(_sql.PUT_OPERATOR), account.name, account.role, account.password_hash,
            float(account.created_at), int(account.single_use),
        )  # fmt: skip

    async def get_operator(self, name: str) -> OperatorAccount | None:
        row = await self._run("get_operator", lambda conn: conn.fetchrow(_N(_sql.GET_OPERATOR), name))
        return None if row is None else _rows.operator_from_row(row)

    async def spend_single_use(self, name: str, password_hash: str) -> bool:
        return await self._changed("spend_single_use", _N(_sql.SPEND_SINGLE_USE), name, password_hash)

    # --- lifecycle --------------------------------------------------------------------------

    async def ping(self) -> None:
        await self._run("ping", lambda conn: conn.fetchval("SELECT 1"))

    async def close(self) -> None:
        await self._pool.close()

    # --- console: delivery attempts, outbox search, shared sessions (migrations 9 and 10) -----

    async def record_attempt(self, attempt: DeliveryAttempt) -> None:
        sql = _console_sql.insert_sql("delivery_attempts", _console_sql.ATTEMPT_COLUMNS, _dollar)
        values = _console_sql.attempt_values(attempt)
        await self._count("record_attempt", sql, *values)

    async def list_attempts(self, outbox_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        sql = _console_sql.list_attempts_sql(_dollar)
        return await self._all("list_attempts", _console_sql.attempt_from_row, sql, outbox_id, limit)

    async def find_messages(self, query: OutboxQuery) -> list[OutboundMessage]:
        sql, params = _console_sql.find_messages_sql(query, _dollar)
        return await self._messages("find_messages", sql, *params)

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
        await self._count("update_session", sql, lang, token_sha256)

    async def end_sessions(self, *, token_sha256: str | None = None, name: str | None = None) -> int:
        sql = "DELETE FROM console_sessions WHERE token_sha256 = $1::text OR name = $2::text"
        return await self._count("end_sessions", sql, token_sha256, name)

    async def list_operators(self) -> list[OperatorAccount]:
        return await self._all("list_operators", _rows.operator_from_row, _sql.LIST_OPERATORS)


def _dollar(n: int) -> str:
    return f"${n}"
