"""Measure message log appends per second: one caller versus many concurrent callers (group commit).

Run: .venv/bin/python tests/msglog/bench_msglog.py [--n 5000] [--postgres postgresql://postgres@127.0.0.1/test]
Each append carries a 2 KiB message (encrypted with SM4-GCM) and two evidence values; a seal is
made at the end and the chain verified, with the time of both printed. Not a test (no assertions).
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
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.msglog import MessageLog, NewEntry, open_message_log
from signing.keys import SigningKey

MESSAGE = b"x" * 2048
KEY = SigningKey.of("bench", ed25519.Ed25519PrivateKey.generate())


def entry(i: int) -> NewEntry:
    return NewEntry(
        at=1_750_000_000.0 + i, direction="in", platform="hefei", operation="submit_case", record_type="case",
        message_id=f"m{i}", idem_key=f"C{i}:1", message=MESSAGE, evidence={"x-ah-jws": "a..b", "x-tif-nonce": "n"},
        case_no=f"C{i}", holder_code="340121199904278686",
    )  # fmt: skip


async def run(log: MessageLog, n: int, concurrency: int) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await log.append(entry(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def bench(url: str, n: int) -> None:
    for concurrency in (1, 10, 100):
        log = await open_message_log(url.format(uuid.uuid4().hex[:8]), encryption_key=bytes(16), key_id="k",
                                     signing_key=KEY)  # fmt: skip
        rate = await run(log, n if concurrency > 1 else n // 5, concurrency)
        started = time.perf_counter()
        await log.seal(now=2e9)
        sealed = time.perf_counter() - started
        started = time.perf_counter()
        report = await log.verify()
        checked = time.perf_counter() - started
        commits = log.commits  # type: ignore[attr-defined]
        backend = url.partition(":")[0]
        print(f"{backend:10} concurrency {concurrency:3}: {rate:8.0f} appends/s, {commits} commits; "
              f"seal {sealed * 1000:.1f} ms, verify {report.entries} in {checked * 1000:.0f} ms "
              f"(ok={report.ok})")  # fmt: skip
        await log.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await bench(f"sqlite://{tmp}/msglog-{{}}.db", args.n)
    if args.postgres:
        conn = await asyncpg.connect(args.postgres)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        try:
            await bench(f"{args.postgres}?schema={schema}_{{}}", args.n)
        finally:
            for row in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{schema}%"):
                await conn.execute(f'DROP SCHEMA "{row[0]}" CASCADE')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
