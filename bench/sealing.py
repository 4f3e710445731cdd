"""What sealing outbox payloads at rest costs: accept + claim through the store, with and without the sealing layer.

Run: .venv/bin/python bench/sealing.py [--n 3000] [--concurrency 64] [--postgres postgresql://postgres@127.0.0.1/test]

In one run, on the same kind of store, it times ``accept`` of a 2 KiB canonical record then ``claim_due`` of all of
them, for the plain store and for :class:`gateway.sealed_store.SealedStore` (SM4-GCM and AES-GCM), alternating the
order, and prints each as a ratio to the plain store of the same round. Not a test: the tests check behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.msglog.atrest import AES_GCM, SM4_GCM, AtRestKey, AtRestKeys
from gateway.sealed_store import SealedStore
from gateway.store import InboundRecord, OutboundMessage, Store, open_store

PAYLOAD = b'{"applicant":{"id_no":"11010519491231002X"},"materials":[' + b'"x",' * 500 + b'"y"]}'


async def once(store: Store, n: int, concurrency: int) -> float:
    prefix = uuid.uuid4().hex[:8]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        key = f"{prefix}-{i}:1"
        message = OutboundMessage.new(id=f"{key}-o", destination=prefix, kind="case", idem_key=key, message_id=key,
                                      payload=PAYLOAD, now=0.0)  # fmt: skip
        async with sem:
            await store.accept(InboundRecord("case", key, "hefei", 0.0, b"TB", "receipt_no"), [message])

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    claimed = 0
    while claimed < n:
        got = await store.claim_due(1.0, 512, "bench", 60.0, destination=prefix)
        assert all(m.payload == PAYLOAD for m in got)
        claimed += len(got)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", help="measure this PostgreSQL URL instead of SQLite (a fresh schema)")
    args = parser.parse_args()
    keys = {
        "sm4-gcm": AtRestKeys.create(AtRestKey.of("k1", bytes(16), SM4_GCM)),
        "aes-gcm": AtRestKeys.create(AtRestKey.of("k1", bytes(16), AES_GCM)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        url = f"{args.postgres}?schema=bench_{uuid.uuid4().hex[:8]}" if args.postgres else f"sqlite://{tmp}/b.db"
        plain = await open_store(url)
        try:
            stores: dict[str, Store] = {"plain": plain, **{n: SealedStore(plain, k) for n, k in keys.items()}}
            times: dict[str, list[float]] = {name: [] for name in stores}
            for r in range(args.rounds):  # the order rotates: a later store meets a fuller table
                names = list(stores)[r % len(stores) :] + list(stores)[: r % len(stores)]
                for name in names:
                    times[name].append(await once(stores[name], args.n, args.concurrency))
        finally:
            await plain.close()
    plain_time = statistics.median(times["plain"])
    print(f"plain store: {args.n / plain_time:.0f} accept+claim per second (median of {args.rounds} rounds)")
    for name in keys:
        print(f"sealed {name}: {statistics.median(times[name]) / plain_time:.2f}x the plain store's time")
    for name, key in keys.items():  # the crypto alone, per message, against the plain store's time per message
        sealer = SealedStore(plain, key)
        started = time.perf_counter()
        for i in range(args.n):
            sealer.open(sealer.seal(PAYLOAD, "outbox.payload", str(i)), "outbox.payload", str(i))
        share = (time.perf_counter() - started) / plain_time
        print(f"{name} seal+open alone: {share:.2f}x the plain store's accept+claim time")


if __name__ == "__main__":
    asyncio.run(main())
