"""Measure accept() throughput with 1 caller versus many concurrent callers (group commit).

Run: .venv/bin/python tests/store/bench_accept.py [--n 2000] [--postgres postgresql://postgres@127.0.0.1/test]
Prints accepts per second and commits per accept for each concurrency level. Not a test (no
assertions): the group-commit test in test_group_commit.py guards the behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.store import InboundRecord, OutboundMessage, SQLiteStore, Store, open_store

PAYLOAD = b"x" * 2048  # about the size of a signed case message


async def run(store: Store, n: int, concurrency: int) -> float:
    prefix = uuid.uuid4().hex[:8]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        key = f"{prefix}-{i}:1"
        async with sem:
            await store.accept(
                InboundRecord("case", key, "hefei", 0.0, b"receipt", "application/json"),
                [OutboundMessage.new(id=f"{key}-o", destination="ningbo", kind="case", idem_key=key,
                                     message_id=key, payload=PAYLOAD, now=0.0)],
            )  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--postgres", help="also measure this PostgreSQL URL (a fresh schema is used)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", f"sqlite://{Path(tmp) / 'bench.db'}")]
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        if args.postgres:
            targets.append(("postgres", f"{args.postgres}?schema={schema}"))
        for name, url in targets:
            store = await open_store(url)
            try:
                for concurrency in (1, 8, 64, 256):
                    n = args.n if concurrency > 1 else max(200, args.n // 5)
                    commits = store.commits if isinstance(store, SQLiteStore) else 0
                    elapsed = await run(store, n, concurrency)
                    per = (
                        f"{(store.commits - commits) / n:.3f} commits/accept" if isinstance(store, SQLiteStore) else ""
                    )
                    print(f"{name:8} concurrency {concurrency:4}: {n / elapsed:8.0f} accepts/s  {per}")
            finally:
                await store.close()
    if args.postgres:
        conn = await asyncpg.connect(args.postgres)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
