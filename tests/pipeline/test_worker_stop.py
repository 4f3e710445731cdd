"""``DeliveryWorker.stop(grace)`` against a destination that never answers: real SQLite store, a client with the
real ``PlatformClient`` interface whose sends hang (what is under test is the stop, not the network)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pipeline_stack import wait_for
from test_worker import payload, queue, worker

from gateway.pipeline.worker import NOT_SENT
from gateway.store import SQLiteStore
from gateway.wire.base import Accepted, PlatformClient

__all__ = ["payload"]


class Hanging(PlatformClient):
    """Takes every submission and never answers, like a platform that accepted the connection and went silent."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        raise AssertionError("unreachable")


async def test_stop_cancels_sends_at_the_grace_and_hands_every_claim_back(tmp_path: Path, payload: bytes) -> None:
    store = await SQLiteStore.open(tmp_path / "gw.db")
    client = Hanging()
    w = worker(store, {"d": client}, per_destination=2, lease_seconds=120)
    running = asyncio.create_task(w.run())
    try:
        await queue(store, payload, "d", 5, "k")  # 2 sending, 3 claimed and waiting for a send slot
        w.kick(["d"])
        await wait_for(lambda: client.started == 2, what="two sends in flight")
        started = time.monotonic()
        released = await w.stop(grace=0.3)
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 1.5
        assert client.cancelled == 2
        assert released == 5 and w.counts["released"] == 5
        assert await w.stop() == 5  # a second call (the app's cleanup) waits for the first one's result
        await asyncio.wait_for(running, 1)
        messages = await store.list_messages()
        assert [m.state for m in messages] == ["pending"] * 5
        assert all(m.lease_owner is None and m.last_error_code == NOT_SENT for m in messages)
        assert all(m.next_attempt_at <= time.time() for m in messages)  # due now, not after the 120 s lease
    finally:
        await store.close()


async def test_stop_without_a_grace_still_waits_for_sends_that_finish(tmp_path: Path, payload: bytes) -> None:
    store = await SQLiteStore.open(tmp_path / "gw.db")
    gate = asyncio.Event()

    class Slow(PlatformClient):
        def __init__(self) -> None:  # no link or transport: it answers when the test opens the gate
            pass

        async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
            await gate.wait()
            return Accepted(f"R-{message_id}")

    w = worker(store, {"d": Slow()})
    running = asyncio.create_task(w.run())
    try:
        await queue(store, payload, "d", 2, "k")
        w.kick(["d"])
        await wait_for(lambda: w.in_flight == 2, what="two sends in flight")
        stopping = asyncio.create_task(w.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # no grace: the sends in progress are waited for
        gate.set()
        assert await stopping == 0  # finished and recorded: nothing left to hand back
        await running
        assert [m.state for m in await store.list_messages()] == ["delivered", "delivered"]
    finally:
        await store.close()
