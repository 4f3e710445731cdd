"""The delivery worker's claiming on its own: a real SQLite store, clients with the real ``PlatformClient``
interface that answer at once (no network: what is under test is which messages get claimed and when)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pipeline_stack import wait_for

from gateway.config import load_config
from gateway.delivery import BreakerRegistry, BreakerSettings, BreakerState, ConnectionFailed, RetryPolicy
from gateway.model import canonical_json
from gateway.pipeline.worker import DeliveryWorker, WorkerSettings
from gateway.store import SQLiteStore
from gateway.store.api import InboundRecord, OutboundMessage
from gateway.wire.base import Accepted, PlatformClient


class Answering(PlatformClient):
    """Accepts every submission at once (or fails while ``down``), recording the message ids it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.down = False

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        if self.down:
            raise ConnectionFailed("down")
        self.seen.append(message_id)
        return Accepted(f"R-{message_id}")


@pytest.fixture(scope="module")
def payload(samples_dir: Path) -> bytes:
    """A canonical evaluation record, as the outbox keeps it."""
    body = (samples_dir / "anhui" / "evaluation" / "SE001.json").read_bytes()
    return canonical_json.dumps(load_config().registry.adapter("anhui").decode("evaluation", body))


async def queue(store: SQLiteStore, payload: bytes, destination: str, n: int, key: str, due_in: float = 0.0) -> None:
    now = time.time()
    messages = [
        OutboundMessage(
            id=f"{key}-{i}",
            destination=destination,
            kind="evaluation",
            idem_key=f"{key}-{i}",
            message_id=f"{key}-{i}",
            payload=payload,
            created_at=now,
            next_attempt_at=now + due_in,
        )
        for i in range(n)
    ]
    await store.accept(InboundRecord("evaluation", key, "test", now, b"r", "receipt_no"), messages)


def worker(store: SQLiteStore, clients: dict[str, PlatformClient], **settings: Any) -> DeliveryWorker:
    return DeliveryWorker(
        store,
        clients,
        owner="w1",
        clock=time.time,
        default_policy=RetryPolicy(base_delay=0.05, max_delay=0.1, short_attempts=1),
        breakers=BreakerRegistry(BreakerSettings(consecutive_failures=2, cool_down=0.2), clock=time.time),
        settings=WorkerSettings(**{"poll_interval": 0.1, **settings}),
    )


async def test_a_busy_destination_does_not_starve_the_retries_of_another(tmp_path: Path, payload: bytes) -> None:
    store = await SQLiteStore.open(tmp_path / "gw.db")
    busy, quiet = Answering(), Answering()
    w = worker(store, {"busy": busy, "quiet": quiet})
    w_task = asyncio.create_task(w.run())
    try:
        await queue(store, payload, "quiet", 1, "q", due_in=0.3)  # comes due later, with no kick of its own
        for i in range(60):  # a kick for "busy" every 20 ms, longer than the poll interval several times over
            await queue(store, payload, "busy", 1, f"b{i}")
            w.kick(["busy"])
            await asyncio.sleep(0.02)
            if quiet.seen:
                break
        assert quiet.seen == ["q-0"]
    finally:
        await w.stop()
        await w_task
        await store.close()


async def test_an_open_breaker_claims_nothing_then_one_probe(tmp_path: Path, payload: bytes) -> None:
    store = await SQLiteStore.open(tmp_path / "gw.db")
    client = Answering()
    client.down = True
    w = worker(store, {"d": client}, per_destination=4)
    try:
        await queue(store, payload, "d", 6, "k")
        await w.run_once()
        await wait_for(lambda: w.in_flight == 0, what="first round recorded")
        assert w.breaker_state("d").value == "open"
        before = sum(m.attempts for m in await store.list_messages())
        assert await w.run_once() == 0  # open: nothing is claimed, no attempt is spent
        assert sum(m.attempts for m in await store.list_messages()) == before
        await asyncio.sleep(0.25)  # cool-down over: half-open
        client.down = False
        assert await w.run_once() == 1  # exactly one probe
        await wait_for(lambda: w.in_flight == 0, what="probe recorded")
        assert w.breaker_state("d").value == "closed"
        await asyncio.sleep(0.15)  # the failed ones come due again
        await w.drain()
        assert sorted(client.seen) == [f"k-{i}" for i in range(6)]
    finally:
        await w.stop()
        await store.close()


async def test_a_claimed_message_past_its_max_age_is_dead_lettered_unsent(tmp_path: Path, payload: bytes) -> None:
    """The check before a send: a message claimed after its deadline (no sweep ran in between) is not sent."""
    store = await SQLiteStore.open(tmp_path / "gw.db")
    client = Answering()
    now = time.time()
    old = OutboundMessage(id="old", destination="dest", kind="evaluation", idem_key="old", message_id="old",
                          payload=payload, created_at=now - 30, next_attempt_at=now - 30)  # fmt: skip
    await store.accept(InboundRecord("evaluation", "old", "test", now, b"r", "receipt_no"), [old])
    w = DeliveryWorker(store, {"dest": client}, owner="w1", clock=time.time,
                       default_policy=RetryPolicy(max_age=10.0, short_attempts=1))  # fmt: skip
    try:
        assert await w.run_once(["dest"]) == 1  # a named destination: a claim without the expiry sweep
        while w.in_flight:
            await asyncio.sleep(0.01)
        [message] = await store.list_messages()
        assert (message.state, message.last_error_code) == ("dead", "DELIVERY_EXPIRED")
        assert client.seen == [] and w.counts["expired"] == 1
    finally:
        await store.close()


async def test_the_expiry_sweep_runs_for_a_destination_whose_breaker_is_open(tmp_path: Path, payload: bytes) -> None:
    store = await SQLiteStore.open(tmp_path / "gw.db")
    client = Answering()
    await queue(store, payload, "dest", 3, "k")
    w = worker(store, {"dest": client})
    w.policies["dest"] = RetryPolicy(max_age=5.0, short_attempts=1)
    breaker = w.breakers.get("dest")
    for _ in range(2):
        breaker.record(ConnectionFailed("down"))
    assert w.breaker_state("dest") is BreakerState.OPEN
    try:
        assert await w.expire_overdue(time.time() + 4.0) == 0  # not yet
        assert await w.expire_overdue(time.time() + 5.5) == 3
        assert {m.last_error_code for m in await store.list_messages()} == {"DELIVERY_EXPIRED"}
        assert client.seen == []
    finally:
        await store.close()


class CountingStore(SQLiteStore):
    """The real SQLite store, counting the claims the worker makes."""

    claims = 0

    async def claim_due(self, *args: Any, **kwargs: Any) -> list[OutboundMessage]:
        self.claims += 1
        return await super().claim_due(*args, **kwargs)


class Yielding(Answering):
    """Accepts after a millisecond, as a real send takes a while, so outcomes arrive one by one."""

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        await asyncio.sleep(0.001)
        return await super().submit(record_type, record, message_id)


async def test_a_backlog_is_claimed_in_refills_not_one_claim_per_delivery(tmp_path: Path, payload: bytes) -> None:
    """Every outcome of an ordered message kicks its destination; refilling only below half a batch keeps the claims
    to a few per batch instead of one per delivered message (what a g60 drain spent a fifth of its CPU on)."""
    store = await CountingStore.open(tmp_path / "gw.db")
    now, n = time.time(), 600
    messages = [
        OutboundMessage(
            id=f"o-{i}",
            destination="dest",
            kind="evaluation",
            idem_key=f"o-{i}",
            message_id=f"o-{i}",
            payload=payload,
            created_at=now,
            next_attempt_at=now,
            order_key=f"CASE-{i}",
            order_seq=1,
        )
        for i in range(n)
    ]
    await store.accept(InboundRecord("evaluation", "o", "test", now, b"r", "receipt_no"), messages)
    client = Yielding()
    w = worker(store, {"dest": client}, batch=64, per_destination=8)
    w_task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: len(client.seen) == n, timeout=30)
    finally:
        await w.stop()
        await w_task
        await store.close()
    assert sorted(client.seen) == sorted(m.message_id for m in messages)  # each exactly once
    # a refill takes at least half a batch: n / 32 claims, a few more for the kicks that find a batch still full
    assert store.claims <= 2 * n // 32, store.claims
