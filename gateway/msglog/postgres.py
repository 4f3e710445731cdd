"""The shared message log: PostgreSQL through an asyncpg pool, for several gateway instances.

Why the chain stays one chain across instances: every append and every seal runs in ONE
transaction that first takes the row lock on ``msglog_head`` (``SELECT ... FOR UPDATE``), places its
entries after the head it read, inserts them and moves the head before committing. A second
instance waits on the lock and then reads the moved head. Within one instance concurrent appends
are group-committed (:class:`._batcher.GroupCommitter`), so the lock is taken once per batch, not
once per message. Reads (``verify``, ``export``) use a read-only REPEATABLE READ snapshot.

Migrations run under a transaction-scoped advisory lock, as the store's do; ``schema`` (from the
URL's ``?schema=``) becomes the connections' ``search_path``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Unpack

from gateway.store._pg_pool import PooledBackend, PoolOptions, open_migrated_pool, row_count

from . import _rows, _sql
from ._base import BaseMessageLog, LogSettings
from ._batcher import LINGER, GroupCommitter
from ._rows import Head
from .api import Anchor, Entry, PurgeResult, Seal
from .migrations import MSGLOG_SCHEMA

__all__ = ["PostgresMessageLog"]

_N = _sql.numbered
_HEAD_LOCKED: Final = _N(_sql.HEAD) + " FOR UPDATE"
_ANCHOR_LOCKED: Final = _N(_sql.ANCHOR) + " FOR UPDATE"


class PostgresMessageLog(BaseMessageLog, PooledBackend):
    """:class:`~gateway.msglog.api.MessageLog` on PostgreSQL. Build it with :meth:`open`."""

    def __init__(
        self, pool: Any, schema: str | None, migrated: tuple[int, ...], batch_max: int, settings: LogSettings
    ) -> None:
        super().__init__(settings)
        self._pool = pool
        self.schema = schema
        #: Migration versions this open applied (empty when the schema was already current).
        self.migrated = migrated
        self._committer: GroupCommitter[Entry, Entry] = GroupCommitter(self._flush, batch_max=batch_max, linger=LINGER)

    def __repr__(self) -> str:
        return f"PostgresMessageLog(schema={self.schema!r})"

    @classmethod
    async def open(
        cls, dsn: str, *, settings: LogSettings, batch_max: int = 512, **options: Unpack[PoolOptions]
    ) -> PostgresMessageLog:
        """Connect a pool to ``dsn``, create the ``schema`` option if given, and migrate the log's tables."""
        pool, migrated = await open_migrated_pool(dsn, MSGLOG_SCHEMA, options)
        return cls(pool, options.get("schema"), migrated, batch_max, settings)

    @property
    def commits(self) -> int:
        """Append transactions committed so far by this instance."""
        return self._committer.flushes

    async def close(self) -> None:
        await self._committer.close()
        await self._pool.close()

    async def _append_fields(self, fields: list[Entry]) -> list[Entry]:
        return await self._committer.submit(fields)

    async def _flush(self, fields: list[Entry]) -> list[Entry]:
        async def job(conn: Any) -> list[Entry]:
            async with conn.transaction():
                placed = _rows.chain_entries(fields, _rows.head_from_row(await conn.fetchrow(_HEAD_LOCKED)))
                await conn.executemany(_N(_sql.INSERT_ENTRY), [_rows.entry_values(e) for e in placed])
                await conn.execute(_N(_sql.MOVE_HEAD), placed[-1].seq, placed[-1].entry_hash)
                return placed

        return await self._run("append", job)

    async def _seal(self, build: Callable[[Head], Seal | None]) -> Seal | None:
        async def job(conn: Any) -> Seal | None:
            async with conn.transaction():
                seal = build(_rows.head_from_row(await conn.fetchrow(_HEAD_LOCKED)))
                if seal is not None:
                    await conn.execute(_N(_sql.INSERT_SEAL), *_rows.seal_values(seal))
                    await conn.execute(_N(_sql.SEAL_HEAD), seal.seal_no, seal.seal_hash, seal.last_seq)
                return seal

        return await self._run("seal", job)

    async def _read(self, first_seal: int | None, last_seal: int | None) -> tuple[Anchor, list[Seal], list[Entry]]:
        async def job(conn: Any) -> tuple[Anchor, list[Seal], list[Entry]]:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                anchor = _rows.anchor_from_row(await conn.fetchrow(_N(_sql.ANCHOR)))
                if first_seal is None and last_seal is None:
                    seals = [_rows.seal_from_row(r) for r in await conn.fetch(_sql.SEALS_ALL)]
                    return anchor, seals, [_rows.entry_from_row(r) for r in await conn.fetch(_sql.ENTRIES_ALL)]
                lo = anchor.seal_no + 1 if first_seal is None else first_seal
                hi = _sql.MAX_SEQ if last_seal is None else last_seal
                seals = [_rows.seal_from_row(r) for r in await conn.fetch(_N(_sql.SEALS_RANGE), lo, hi)]
                if not seals:
                    return anchor, [], []
                if lo > anchor.seal_no + 1:
                    row = await conn.fetchrow(_N(_sql.SEAL_BY_NO), lo - 1)
                    if row is not None:
                        before = _rows.seal_from_row(row)
                        anchor = Anchor(before.last_seq, before.last_entry_hash, before.seal_no, before.seal_hash)
                rows = await conn.fetch(_N(_sql.ENTRIES_RANGE), anchor.seq, seals[-1].last_seq)
                return anchor, seals, [_rows.entry_from_row(r) for r in rows]

        return await self._run("read", job)

    async def _search(self, case_no: str | None, licence_id: str | None, limit: int) -> list[Entry]:
        sql = _N(_sql.search_sql(case_no is not None, licence_id is not None))
        params = [v for v in (case_no, licence_id) if v is not None]
        rows = await self._run("search", lambda conn: conn.fetch(sql, *params, limit))
        return [_rows.entry_from_row(r) for r in rows]

    async def _purge(self, before_us: int | None) -> PurgeResult:
        async def job(conn: Any) -> PurgeResult:
            async with conn.transaction():
                anchor = _rows.anchor_from_row(await conn.fetchrow(_ANCHOR_LOCKED))
                if before_us is None:
                    return PurgeResult(0, 0, anchor)
                cutoff = await conn.fetchval(_N(_sql.PURGE_CUTOFF), before_us)
                below = _sql.MAX_SEQ if cutoff is None else int(cutoff)
                rows = await conn.fetch(_N(_sql.SEALS_RANGE), anchor.seal_no + 1, below - 1)
                if not rows:
                    return PurgeResult(0, 0, anchor)
                last = _rows.seal_from_row(rows[-1])
                entries = row_count(await conn.execute(_N(_sql.PURGE_ENTRIES), last.last_seq))
                seals = row_count(await conn.execute(_N(_sql.PURGE_SEALS), last.seal_no))
                moved = Anchor(last.last_seq, last.last_entry_hash, last.seal_no, last.seal_hash)
                await conn.execute(_N(_sql.MOVE_ANCHOR), moved.seq, moved.entry_hash, moved.seal_no, moved.seal_hash)
                await conn.execute(_N(_sql.INSERT_CUT), *_rows.seal_values(last))
                return PurgeResult(seals, entries, moved)

        return await self._run("purge", job)

    async def _read_cut(self, seal_no: int) -> Seal | None:
        row = await self._run("read_cut", lambda conn: conn.fetchrow(_N(_sql.CUT_BY_NO), seal_no))
        return None if row is None else _rows.cut_from_row(row)
