"""The SQLite connection's own thread, with group commit.

Why a thread: ``sqlite3`` blocks, and an fsync may take milliseconds; the event loop must never
wait on it. Why one thread and one connection: SQLite has one writer per file anyway, and a single
owner of the connection needs no locks.

Group commit: while the thread commits one batch, new jobs queue up; the next batch takes every job
queued (up to ``batch_max``) and runs them in ONE ``BEGIN IMMEDIATE ... COMMIT``. So the batch costs
one WAL fsync (``synchronous=FULL``), later jobs in the batch see earlier ones (a duplicate key inside
a batch behaves as if the jobs ran one by one), and no caller hears "done" before its commit is
durable. A failing job rolls back only itself: the batch first runs without savepoints (they were two
more statements per job, and jobs almost never fail); if a job raises, the transaction is rolled back
and the batch runs again with each job inside its own SAVEPOINT. Jobs are functions of the
connection alone (no state of their own), so running one twice has no effect beyond the database.

Waking the event loop: a job carries an ``asyncio`` future of the caller's loop, and the thread settles a whole
batch with ONE ``call_soon_threadsafe``. Measured under intake load, the per-job ``concurrent.futures.Future``
(a lock and a condition each) chained with ``wrap_future`` (one self-pipe write per job) cost more of the event
loop's time than the SQL did.

``commits`` counts committed transactions, so tests and benchmarks can see the batching.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypedDict, TypeVar

from .errors import StoreConflict, StoreError, StoreUnavailable
from .migrate import migrate_sqlite
from .migrations import SchemaHistory

__all__ = ["CACHE_KIB", "SQLiteOptions", "SQLiteWorker", "open_worker", "translate", "wal_connector"]

T = TypeVar("T")

# Primary result codes that mean "the database cannot serve right now": retry later.
_UNAVAILABLE: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)
_STOP: Final = object()
_log = logging.getLogger(__name__)


def translate(operation: str, exc: BaseException) -> BaseException:
    """Map a ``sqlite3`` error to the store's tree; anything else passes through unchanged.

    SQLite's messages name tables and constraints, never bound values, so they are kept.
    """
    if not isinstance(exc, sqlite3.Error):
        return exc
    detail = f"{type(exc).__name__}: {exc}"
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.IntegrityError):
        mapped: StoreError = StoreConflict(operation, detail)
    elif code is not None and code & 0xFF in _UNAVAILABLE:
        mapped = StoreUnavailable(operation, detail)
    else:
        mapped = StoreError(operation, detail)
    mapped.__cause__ = exc
    return mapped


class _Job:
    __slots__ = ("fn", "future", "loop", "name")

    def __init__(self, name: str, fn: Callable[[sqlite3.Connection], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()


def _settle(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    """On the caller's loop: hand each job its result (a caller that gave up meanwhile is skipped)."""
    for job, ok, value in outcomes:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _wake(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    """From the thread: settle ``outcomes`` with one wake-up per event loop (a closed loop has nobody waiting)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, part in by_loop.items():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, part)


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> Any:
    """``PRAGMA journal_mode=WAL``, retried while the file is busy, up to ``busy_timeout`` seconds.

    Why retry by hand: when several processes open a new file at once, SQLite may answer "database is locked"
    at once instead of waiting in its busy handler (it refuses to wait where waiting could deadlock); seen as
    1 failed open in 50 with six instances starting together on a loaded machine.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


CACHE_KIB = 32 * 1024
"""The page cache of each SQLite connection (store, message log), in KiB: SQLite's default of 2 MiB holds a few hundred
sealed outbox rows and their indexes, so a larger backlog was read again from the file (~13 ``pread64`` per delivery
in a 4,800-message drain). Bounded: one connection per file, so at most this much per file."""


def wal_connector(path: str, busy_timeout: float) -> Callable[[], sqlite3.Connection]:
    """A connect function for :class:`SQLiteWorker`: no implicit transactions (the worker BEGINs), WAL, FULL sync.

    Why refuse a database that stays out of WAL mode: group commit counts on one WAL append and fsync per batch,
    and readers (the CLI, /readyz) must not block the writer.
    """

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            mode = _switch_to_wal(conn, busy_timeout)
            if str(mode).lower() != "wal":
                raise StoreError("open", f"the database refused WAL mode (journal_mode={mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        except BaseException:
            conn.close()
            raise
        return conn

    return connect


class SQLiteWorker:
    """Owns one ``sqlite3`` connection on a dedicated thread and runs jobs on it in batches."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        setup: Callable[[sqlite3.Connection], Any],
        *,
        batch_max: int = 512,
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, got {batch_max!r}")
        self._connect = connect
        self._setup = setup
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.commits = 0
        self.jobs = 0
        self.isolated = 0  # batches run again job by job because one of their jobs failed

    async def start(self) -> Any:
        """Start the thread, connect and run ``setup`` (migrations) there; returns setup's result."""
        ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name="store-sqlite", daemon=True)
        self._thread.start()
        return await asyncio.wrap_future(ready)

    async def run(self, name: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` inside the next batch's transaction; return once it is committed."""
        job = _Job(name, fn, asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                raise StoreUnavailable(name, "the store is closed")
            self._queue.put(job)
        result: T = await job.future
        return result

    async def stop(self) -> None:
        """Finish the queued jobs, close the connection and join the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        thread = self._thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    # --- on the worker thread -------------------------------------------------------------

    def _main(self, ready: concurrent.futures.Future[Any]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start(); the thread has nothing else to do
            self._closed = True
            ready.set_exception(translate("open", exc))
            return
        try:
            ready.set_result(self._setup(conn))
        except BaseException as exc:
            self._closed = True
            conn.close()
            ready.set_exception(translate("migrate", exc))
            return
        try:
            self._loop(conn)
        finally:
            conn.close()
            self._fail_queued()

    def _fail_queued(self) -> None:
        """After the loop ended (closed, or a bug): nobody may wait for ever on a queued job."""
        with self._lock:
            self._closed = True
        failed: list[tuple[_Job, bool, Any]] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not _STOP:
                failed.append((job, False, StoreUnavailable(job.name, "the store is closed")))
        _wake(failed)

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]
            stop = False
            while len(batch) < self._batch_max:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            self._run_batch(conn, batch)
            if stop:
                return

    def _run_jobs(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        """Inside the open transaction: every job's outcome, a failing job undone alone (see the module doc)."""
        try:
            return [(job, True, job.fn(conn)) for job in jobs]
        except Exception:  # some job failed: undo the batch, then run each job inside its own savepoint
            conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            self.isolated += 1
        outcomes: list[tuple[_Job, bool, Any]] = []
        for job in jobs:
            conn.execute("SAVEPOINT job")
            try:
                value = job.fn(conn)
            except Exception as exc:  # this job alone fails; its savepoint is undone
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((job, False, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((job, True, value))
        return outcomes

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        # A caller cancelled before its batch began is skipped (reading ``cancelled()`` from this thread is a plain
        # attribute read; one cancelled a moment later still runs, and its result is dropped by ``_settle``).
        live = [job for job in batch if not job.future.cancelled()]
        if not live:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = self._run_jobs(conn, live)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as rollback_exc:
                    _log.warning("rollback after a failed batch failed too: %s", type(rollback_exc).__name__)
            _wake([(job, False, translate(job.name, exc)) for job in live])
            return
        self.commits += 1
        self.jobs += len(live)
        _wake([(job, ok, value if ok else translate(job.name, value)) for job, ok, value in outcomes])


class SQLiteOptions(TypedDict, total=False):
    """The ``sqlite://`` URL options the store and the message log both take (:mod:`.urls`)."""

    busy_timeout: float  # seconds a writer waits for another process's lock (default 5)
    batch_max: int  # jobs per group commit at most (default 512)


async def open_worker(
    path: str | Path, history: SchemaHistory, options: SQLiteOptions
) -> tuple[SQLiteWorker, tuple[int, ...]]:
    """A started worker on the WAL file at ``path`` (created if needed) with ``history`` migrated; and the migration
    versions this open applied (empty when the schema was already current)."""

    def migrate(conn: sqlite3.Connection) -> tuple[int, ...]:
        return migrate_sqlite(conn, history)

    connect = wal_connector(str(path), options.get("busy_timeout", 5.0))
    worker = SQLiteWorker(connect, migrate, batch_max=options.get("batch_max", 512))
    return worker, await worker.start()
