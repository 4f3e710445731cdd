"""The embedded message log: SQLite in WAL mode with ``synchronous=FULL``, on the store's worker thread.

It reuses the store's :class:`~gateway.store._sqlite_worker.SQLiteWorker`: one connection on its own
thread, and group commit (every append queued while a commit runs goes into the next transaction,
one fsync for all). Each append job reads the chain head inside that transaction, so appends in
one batch chain after each other exactly as if they ran one by one. The file may be its own or
the store's (the tables are ``msglog_*``); ``BEGIN IMMEDIATE`` makes two log objects on one file
(the gateway and an operator's ``gateway log verify``) wait for each other.

Concurrent appends are grouped before they reach the worker (``GroupCommitter``, as on PostgreSQL):
one job per group, with one head read, one ``executemany`` and one head update, instead of one job
per entry. Under intake load the per-entry head read and update were most of the log's work on the
writer thread. The entries of one group succeed or fail together (a failure there is the
database's, not an entry's).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Unpack

from gateway.store._sqlite_worker import SQLiteOptions, SQLiteWorker, open_worker

from . import _rows, _sql
from ._base import BaseMessageLog, LogSettings
from ._batcher import LINGER, GroupCommitter
from ._rows import Head
from .api import Anchor, Entry, PurgeResult, Seal
from .migrations import MSGLOG_SCHEMA

__all__ = ["SQLiteMessageLog"]


def _head(conn: sqlite3.Connection) -> Head:
    return _rows.head_from_row(conn.execute(_sql.HEAD).fetchone())


def _anchor(conn: sqlite3.Connection) -> Anchor:
    return _rows.anchor_from_row(conn.execute(_sql.ANCHOR).fetchone())


class SQLiteMessageLog(BaseMessageLog):
    """:class:`~gateway.msglog.api.MessageLog` on one SQLite file. Build it with :meth:`open`."""

    def __init__(self, worker: SQLiteWorker, path: str, migrated: tuple[int, ...], settings: LogSettings) -> None:
        super().__init__(settings)
        self._worker = worker
        self._committer: GroupCommitter[Entry, Entry] = GroupCommitter(self._flush, linger=LINGER)
        self.path = path
        #: Migration versions this open applied (empty when the schema was already current).
        self.migrated = migrated

    def __repr__(self) -> str:
        return f"SQLiteMessageLog(path={self.path!r})"

    @classmethod
    async def open(
        cls, path: str | Path, *, settings: LogSettings, **options: Unpack[SQLiteOptions]
    ) -> SQLiteMessageLog:
        """Open (creating if needed) and migrate the message log tables in the file at ``path``."""
        worker, migrated = await open_worker(path, MSGLOG_SCHEMA, options)
        return cls(worker, str(path), migrated, settings)

    @property
    def commits(self) -> int:
        """Transactions committed so far: fewer than appends when group commit batches them."""
        return self._worker.commits

    async def close(self) -> None:
        await self._committer.close()  # queued appends are written first
        await self._worker.stop()

    async def _append_fields(self, fields: list[Entry]) -> list[Entry]:
        return await self._committer.submit(fields)

    async def _flush(self, fields: list[Entry]) -> list[Entry]:
        def job(conn: sqlite3.Connection) -> list[Entry]:
            placed = _rows.chain_entries(fields, _head(conn))
            conn.executemany(_sql.INSERT_ENTRY, [_rows.entry_values(e) for e in placed])
            conn.execute(_sql.MOVE_HEAD, (placed[-1].seq, placed[-1].entry_hash))
            return placed

        return await self._worker.run("append", job)

    async def _seal(self, build: Callable[[Head], Seal | None]) -> Seal | None:
        def job(conn: sqlite3.Connection) -> Seal | None:
            seal = build(_head(conn))
            if seal is not None:
                conn.execute(_sql.INSERT_SEAL, _rows.seal_values(seal))
                conn.execute(_sql.SEAL_HEAD, (seal.seal_no, seal.seal_hash, seal.last_seq))
            return seal

        return await self._worker.run("seal", job)

    async def _read(self, first_seal: int | None, last_seal: int | None) -> tuple[Anchor, list[Seal], list[Entry]]:
        def job(conn: sqlite3.Connection) -> tuple[Anchor, list[Seal], list[Entry]]:
            anchor = _anchor(conn)
            if first_seal is None and last_seal is None:
                seals = [_rows.seal_from_row(r) for r in conn.execute(_sql.SEALS_ALL)]
                return anchor, seals, [_rows.entry_from_row(r) for r in conn.execute(_sql.ENTRIES_ALL)]
            lo = anchor.seal_no + 1 if first_seal is None else first_seal
            hi = _sql.MAX_SEQ if last_seal is None else last_seal
            seals = [_rows.seal_from_row(r) for r in conn.execute(_sql.SEALS_RANGE, (lo, hi))]
            if not seals:
                return anchor, [], []
            if lo > anchor.seal_no + 1:
                row = conn.execute(_sql.SEAL_BY_NO, (lo - 1,)).fetchone()
                if row is not None:
                    before = _rows.seal_from_row(row)
                    anchor = Anchor(before.last_seq, before.last_entry_hash, before.seal_no, before.seal_hash)
            rows = conn.execute(_sql.ENTRIES_RANGE, (anchor.seq, seals[-1].last_seq))
            return anchor, seals, [_rows.entry_from_row(r) for r in rows]

        return await self._worker.run("read", job)

    async def _search(self, case_no: str | None, licence_id: str | None, limit: int) -> list[Entry]:
        sql = _sql.search_sql(case_no is not None, licence_id is not None)
        params = [v for v in (case_no, licence_id) if v is not None]

        def job(conn: sqlite3.Connection) -> list[Entry]:
            return [_rows.entry_from_row(r) for r in conn.execute(sql, (*params, limit))]

        return await self._worker.run("search", job)

    async def _purge(self, before_us: int | None) -> PurgeResult:
        def job(conn: sqlite3.Connection) -> PurgeResult:
            anchor = _anchor(conn)
            if before_us is None:
                return PurgeResult(0, 0, anchor)
            cutoff = conn.execute(_sql.PURGE_CUTOFF, (before_us,)).fetchone()[0]
            below = _sql.MAX_SEQ if cutoff is None else int(cutoff)
            row = conn.execute(_sql.SEALS_RANGE, (anchor.seal_no + 1, below - 1)).fetchall()
            if not row:
                return PurgeResult(0, 0, anchor)
            last = _rows.seal_from_row(row[-1])
            entries = conn.execute(_sql.PURGE_ENTRIES, (last.last_seq,)).rowcount
            seals = conn.execute(_sql.PURGE_SEALS, (last.seal_no,)).rowcount
            moved = Anchor(last.last_seq, last.last_entry_hash, last.seal_no, last.seal_hash)
            conn.execute(_sql.MOVE_ANCHOR, (moved.seq, moved.entry_hash, moved.seal_no, moved.seal_hash))
            conn.execute(_sql.INSERT_CUT, _rows.seal_values(last))
            return PurgeResult(seals, entries, moved)

        return await self._worker.run("purge", job)

    async def _read_cut(self, seal_no: int) -> Seal | None:
        def job(conn: sqlite3.Connection) -> Seal | None:
            row = conn.execute(_sql.CUT_BY_NO, (seal_no,)).fetchone()
            return None if row is None else _rows.cut_from_row(row)

        return await self._worker.run("read_cut", job)
