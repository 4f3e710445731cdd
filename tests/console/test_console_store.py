"""The store's console methods on both backends (migrations 9 and 10): delivery attempts kept per message and
purged with it, and the outbox filters of the console (state, destination, source, code, time)."""

from __future__ import annotations

import uuid

from gateway.store import open_store
from gateway.store.api import DEAD, DELIVERED, DeliveryAttempt, InboundRecord, OutboundMessage, OutboxQuery, Store

T0 = 1_750_000_000.0


async def _queue(store: Store, source: str, destination: str, key: str, at: float) -> OutboundMessage:
    inbound = InboundRecord("case", key, source, at, b"R", "application/json")
    message = OutboundMessage.new(id=uuid.uuid4().hex, destination=destination, kind="case", idem_key=key,
                                  message_id=str(uuid.uuid4()), payload=b"{}", now=at)  # fmt: skip
    assert (await store.accept(inbound, [message])).new
    return message


async def _dead(store: Store, message: OutboundMessage, code: str) -> None:
    [claimed] = await store.claim_due(message.created_at + 1, 1, "w", 60.0, destination=message.destination)
    assert claimed.id == message.id
    assert await store.dead_letter(message.id, "w", code, "refused")


async def test_attempts_are_kept_in_order_and_purged_with_their_message(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        kept, gone, discarded = [await _queue(store, "hefei", "g60", f"C{i}:1", T0 + i) for i in range(3)]
        for i, outcome in enumerate(("retry", "retry", "delivered")):
            code = "TIMEOUT" if outcome == "retry" else None
            await store.record_attempt(DeliveryAttempt(kept.id, i + 1, T0 + 10 * i, outcome, code, 0.25 * i))
        await store.record_attempt(DeliveryAttempt(gone.id, 1, T0, "delivered", None, 0.1))
        await store.record_attempt(DeliveryAttempt(discarded.id, 1, T0, "dead", "SCHEMA_INVALID", 0.1))
        history = await store.list_attempts(kept.id)
        assert [(a.attempt, a.outcome, a.code) for a in history] == [
            (1, "retry", "TIMEOUT"), (2, "retry", "TIMEOUT"), (3, "delivered", None)
        ]  # fmt: skip
        assert history[2].latency == 0.5 and history[0].at == T0
        assert [a.attempt for a in await store.list_attempts(kept.id, limit=2)] == [2, 3]  # the latest, in order
        assert await store.list_attempts("nope") == []

        for message in (kept, gone):
            [claimed] = await store.claim_due(message.created_at + 1, 1, "w", 60.0, destination="g60")
            assert await store.mark_delivered(claimed.id, "w", b"ok", T0 + (100 if message is kept else 10))
        await _dead(store, discarded, "SCHEMA_INVALID")
        assert await store.discard(discarded.id)
        assert await store.purge_delivered(T0 + 50) == 1  # ``gone`` only
        assert await store.list_attempts(gone.id) == [] and await store.list_attempts(discarded.id) == []
        assert len(await store.list_attempts(kept.id)) == 3
    finally:
        await store.close()


async def test_the_outbox_filters_combine(store_url: str) -> None:
    store = await open_store(store_url)
    try:
        a = await _queue(store, "hefei", "g60", "A:1", T0)
        b = await _queue(store, "hefei", "ningbo", "B:1", T0 + 100)
        c = await _queue(store, "huainan", "g60", "C:1", T0 + 200)
        await _dead(store, a, "SCHEMA_INVALID")
        await _dead(store, c, "DELIVERY_EXPIRED")

        async def ids(**fields: object) -> list[str]:
            return [m.id for m in await store.find_messages(OutboxQuery(**fields))]  # type: ignore[arg-type]

        assert await ids() == [a.id, b.id, c.id]
        assert await ids(state=DEAD) == [a.id, c.id]
        assert await ids(state=DEAD, destination="g60", source="huainan") == [c.id]
        assert await ids(source="hefei") == [a.id, b.id]
        assert await ids(code="SCHEMA_INVALID") == [a.id]
        assert await ids(created_from=T0 + 100) == [b.id, c.id]
        assert await ids(created_from=T0 + 50, created_to=T0 + 200) == [b.id]
        assert await ids(limit=1) == [a.id]
        assert await ids(state=DELIVERED) == []
        assert (await store.find_messages(OutboxQuery(destination="ningbo")))[0].payload == b"{}"
    finally:
        await store.close()
