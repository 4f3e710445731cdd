"""What one ``claim_due`` costs against the size of the due backlog: the whole-backlog sort against the early stop.

Run: .venv/bin/python bench/store_claim.py [--sizes 300,2500,10000] [--limit 64] [--repeat 200] [--plan]
     [--postgres postgresql://postgres@127.0.0.1/test]

For each backlog size it queues that many due messages through the store (half of them ordered, as cases are), then
times the claim statement of the session-3 store (the due rows of both halves sorted as a whole before the LIMIT,
kept here as the reference) and the store's own statement (a LIMIT inside each half), alternating them in the same
run. Each claim runs in a transaction that is rolled back, so every repeat sees the same backlog and no fsync is
timed. It prints µs per claim and the ratio old/new per size; ``--plan`` prints the query plans (SQLite's EXPLAIN
QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE). Not a test: the tests check behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.store import InboundRecord, OutboundMessage, Store, _sql, open_store

NOW = 1_000_000.0
OWNER = "bench"

#: The session-3 statements, kept as the reference this bench compares against.
_OLD_SQLITE = (
    f"UPDATE outbox SET {_sql.CLAIM_SET} WHERE id IN (SELECT id FROM ("
    + " UNION ALL ".join(f"SELECT o.id, o.next_attempt_at FROM outbox o WHERE {c}" for c in _sql.claimable(False))
    + f") ORDER BY next_attempt_at, id LIMIT ?) RETURNING {_sql.COLS}"
)
_OLD_POSTGRES = _sql.numbered(
    f"WITH due AS (SELECT o.id FROM outbox o WHERE ({' OR '.join(f'({c})' for c in _sql.claimable(False))})"
    " ORDER BY o.next_attempt_at, o.id LIMIT ? FOR UPDATE OF o SKIP LOCKED)"
    f" UPDATE outbox AS o SET {_sql.CLAIM_SET} FROM due WHERE o.id = due.id RETURNING o.id"
)


async def fill(store: Store, n: int) -> None:
    """``n`` due messages, half of them in ordered cases of four (the ordering hold is evaluated on every row)."""

    async def one(i: int) -> None:
        key = f"{uuid.uuid4().hex[:8]}-{i}:1"
        ordered = i % 2 == 0
        message = OutboundMessage.new(id=f"{key}-o", destination="g60", kind="case", idem_key=key, message_id=key,
                                      payload=b"{}", now=NOW - n + i,
                                      order_key=f"case-{i // 8}" if ordered else None,
                                      order_seq=(i // 2) % 4 if ordered else 0)  # fmt: skip
        await store.accept(InboundRecord("case", key, "hefei", NOW, b"TB", "receipt_no"), [message])

    for start in range(0, n, 256):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 256))))


def sqlite_runners(path: Path, limit: int) -> tuple[Callable[[str], float], str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    new = _sql.claim_sqlite(destination=False)
    params = {
        "old": (_OLD_SQLITE, (OWNER, NOW + 60, NOW, NOW, limit)),
        "new": (new, (OWNER, NOW + 60, NOW, limit, NOW, limit, limit)),
    }

    def run(which: str) -> float:
        sql, args = params[which]
        conn.execute("BEGIN")
        started = time.perf_counter()
        rows = conn.execute(sql, args).fetchall()
        elapsed = time.perf_counter() - started
        conn.execute("ROLLBACK")
        if len(rows) != limit:
            raise RuntimeError(f"{which} claimed {len(rows)} rows, not {limit}")
        return elapsed

    def plan(which: str) -> str:
        sql, args = params[which]
        select = sql[sql.index("(SELECT id FROM") + 1 : sql.rindex(") RETURNING")]
        rows = conn.execute(f"EXPLAIN QUERY PLAN {select}", args[2:]).fetchall()
        return "\n".join(f"    {r[-1]}" for r in rows)

    return run, "sqlite", plan


async def time_size(store_url: str, n: int, args: argparse.Namespace) -> dict[str, list[float]]:
    store = await open_store(store_url)
    try:
        await fill(store, n)
    finally:
        await store.close()
    times: dict[str, list[float]] = {"old": [], "new": []}
    if store_url.startswith("sqlite://"):
        run, _, plan = sqlite_runners(Path(store_url.removeprefix("sqlite://")), args.limit)
        for i in range(args.repeat):
            for which in ("old", "new") if i % 2 == 0 else ("new", "old"):
                times[which].append(run(which))
        if args.plan:
            for which in ("old", "new"):
                print(f"  plan {which} ({n} due):\n{plan(which)}")
    else:
        await time_postgres(store_url, n, args, times)
    return times


async def time_postgres(url: str, n: int, args: argparse.Namespace, times: dict[str, list[float]]) -> None:
    dsn, _, schema = url.partition("?schema=")
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    new = _sql.claim_postgres(destination=False).replace(f"RETURNING {_sql.COLS}", "RETURNING o.id")
    params: dict[str, tuple[str, tuple[Any, ...]]] = {
        "old": (_OLD_POSTGRES, (NOW, NOW, args.limit, OWNER, NOW + 60)),
        "new": (new, (NOW, args.limit, NOW, args.limit, args.limit, OWNER, NOW + 60)),
    }

    async def run(which: str, explain: bool = False) -> float:
        sql, values = params[which]
        tx = conn.transaction()
        await tx.start()
        try:
            if explain:
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *values)
                print(f"  plan {which} ({n} due):\n" + "\n".join(f"    {r[0]}" for r in rows))
                return 0.0
            started = time.perf_counter()
            got = await conn.fetch(sql, *values)
            elapsed = time.perf_counter() - started
        finally:
            await tx.rollback()
        if len(got) != args.limit:
            raise RuntimeError(f"{which} claimed {len(got)} rows, not {args.limit}")
        return elapsed

    try:
        await conn.execute("ANALYZE outbox")
        for i in range(args.repeat):
            for which in ("old", "new") if i % 2 == 0 else ("new", "old"):
                times[which].append(await run(which))
        if args.plan:
            for which in ("old", "new"):
                await run(which, explain=True)
    finally:
        await conn.close()


async def with_schema(dsn: str, body: Callable[[str], Awaitable[None]]) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        await body(f"{dsn}?schema={schema}")
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


def report(n: int, times: dict[str, list[float]]) -> None:
    old, new = (statistics.median(times[k]) * 1e6 for k in ("old", "new"))
    print(f"claim: {n:>6} due  old {old:8.1f} µs  new {new:8.1f} µs  ratio old/new {old / new:5.1f}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="300,2500,10000")
    parser.add_argument("--limit", type=int, default=64, help="messages per claim (the worker's default batch)")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--plan", action="store_true")
    parser.add_argument("--postgres", help="measure this PostgreSQL URL instead of SQLite (a fresh schema per size)")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        if args.postgres:

            async def body(url: str, n: int = n) -> None:
                report(n, await time_size(url, n, args))

            await with_schema(args.postgres, body)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                report(n, await time_size(f"sqlite://{Path(tmp) / 'claim.db'}", n, args))


if __name__ == "__main__":
    asyncio.run(main())
