"""Delivery side of the outbox: claims and leases, outcomes, dead letters, operator actions, stats."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import T0, Backend, inbound, message, queue

from gateway.store import DestinationStats, Store

LEASE = 30.0


async def test_claim_leases_due_messages_oldest_first(store: Store) -> None:
    a, b, c = await queue(store, "ningbo", "g60", "ningbo")

    claimed = await store.claim_due(now=T0 + 10, limit=2, owner="w1", lease_seconds=LEASE)

    assert [m.id for m in claimed] == [a.id, b.id]
    assert all(m.state == "delivering" and m.lease_owner == "w1" for m in claimed)
    assert all(m.lease_until == T0 + 10 + LEASE and m.attempts == 1 for m in claimed)
    rest = await store.claim_due(now=T0 + 10, limit=10, owner="w2", lease_seconds=LEASE)
    assert [m.id for m in rest] == [c.id]
    assert await store.claim_due(now=T0 + 10, limit=10, owner="w3", lease_seconds=LEASE) == []


async def test_claim_skips_messages_not_yet_due(store: Store) -> None:
    await queue(store, "ningbo", now=T0 + 100)
    assert await store.claim_due(now=T0 + 99, limit=5, owner="w", lease_seconds=LEASE) == []
    assert len(await store.claim_due(now=T0 + 100, limit=5, owner="w", lease_seconds=LEASE)) == 1


async def test_claim_filters_by_destination(store: Store) -> None:
    _, g60 = await queue(store, "ningbo", "g60")
    claimed = await store.claim_due(now=T0 + 5, limit=5, owner="w", lease_seconds=LEASE, destination="g60")
    assert [m.id for m in claimed] == [g60.id]


async def test_expired_lease_is_claimed_again_and_old_owner_loses(store: Store) -> None:
    (m,) = await queue(store, "ningbo")
    await store.claim_due(now=T0, limit=1, owner="w1", lease_seconds=LEASE)
    assert await store.claim_due(now=T0 + LEASE - 1, limit=1, owner="w2", lease_seconds=LEASE) == []

    (again,) = await store.claim_due(now=T0 + LEASE, limit=1, owner="w2", lease_seconds=LEASE)

    assert (again.id, again.lease_owner, again.attempts) == (m.id, "w2", 2)
    assert not await store.mark_delivered(m.id, "w1", b"late", now=T0 + LEASE + 1)
    assert not await store.schedule_retry(m.id, "w1", T0 + 99, "TIMEOUT", "too slow")
    assert not await store.dead_letter(m.id, "w1", "TIMEOUT", "too slow")
    assert await store.mark_delivered(m.id, "w2", b"ok", now=T0 + LEASE + 2)
    done = await store.get_message(m.id)
    assert done is not None
    assert (done.state, done.delivery_receipt, done.delivered_at) == ("delivered", b"ok", T0 + LEASE + 2)
    assert (done.lease_owner, done.lease_until) == (None, None)


async def test_outcome_needs_a_lease(store: Store) -> None:
    (m,) = await queue(store, "ningbo")
    assert not await store.mark_delivered(m.id, "w1", None, now=T0)
    assert not await store.mark_delivered("missing", "w1", None, now=T0)
    got = await store.get_message(m.id)
    assert got is not None
    assert got.state == "pending"


async def test_retry_is_scheduled_and_claimed_when_due(store: Store) -> None:
    (m,) = await queue(store, "ningbo")
    await store.claim_due(now=T0, limit=1, owner="w1", lease_seconds=LEASE)

    assert await store.schedule_retry(m.id, "w1", T0 + 60, "HTTP_503", "service unavailable")

    waiting = await store.get_message(m.id)
    assert waiting is not None
    assert (waiting.state, waiting.next_attempt_at, waiting.attempts) == ("pending", T0 + 60, 1)
    assert (waiting.last_error_code, waiting.last_error) == ("HTTP_503", "service unavailable")
    assert waiting.lease_owner is None
    assert await store.claim_due(now=T0 + 59, limit=1, owner="w1", lease_seconds=LEASE) == []
    (again,) = await store.claim_due(now=T0 + 60, limit=1, owner="w2", lease_seconds=LEASE)
    assert again.attempts == 2


async def test_dead_letter_retry_keeps_identity(store: Store) -> None:
    (m,) = await queue(store, "ningbo")
    for attempt in range(3):
        await store.claim_due(now=T0 + attempt, limit=1, owner="w", lease_seconds=LEASE)
        if attempt < 2:
            await store.schedule_retry(m.id, "w", T0 + attempt + 1, "HTTP_503", "busy")
    assert await store.dead_letter(m.id, "w", "REJECTED", "BAD_FORMAT at case_no")

    dead = await store.get_message(m.id)
    assert dead is not None
    assert (dead.state, dead.attempts, dead.last_error_code) == ("dead", 3, "REJECTED")
    assert await store.claim_due(now=T0 + 1000, limit=5, owner="w", lease_seconds=LEASE) == []
    assert [d.id for d in await store.list_messages(state="dead")] == [m.id]

    assert await store.retry_dead(m.id, now=T0 + 2000)
    assert not await store.retry_dead(m.id, now=T0 + 2000)  # no longer dead
    revived = await store.get_message(m.id)
    assert revived is not None
    assert (revived.state, revived.attempts, revived.next_attempt_at) == ("pending", 0, T0 + 2000)
    assert (revived.idem_key, revived.message_id, revived.payload) == (m.idem_key, m.message_id, m.payload)
    (claimed,) = await store.claim_due(now=T0 + 2000, limit=1, owner="w", lease_seconds=LEASE)
    assert claimed.message_id == m.message_id


async def test_discard_removes_dead_letters_only(store: Store) -> None:
    live, doomed = await queue(store, "ningbo", "g60")
    assert not await store.discard(live.id)
    await store.claim_due(now=T0 + 5, limit=5, owner="w", lease_seconds=LEASE, destination="g60")
    await store.dead_letter(doomed.id, "w", "REJECTED", "UNKNOWN_ITEM")
    assert await store.discard(doomed.id)
    assert await store.get_message(doomed.id) is None
    assert not await store.discard(doomed.id)
    assert [m.id for m in await store.list_messages()] == [live.id]


async def test_list_messages_filters_and_pages(store: Store) -> None:
    msgs = await queue(store, "ningbo", "g60", "ningbo", "ningbo", "g60")
    ningbo = [m.id for m in msgs if m.destination == "ningbo"]
    assert [m.id for m in await store.list_messages(destination="ningbo")] == ningbo
    assert [m.id for m in await store.list_messages(destination="ningbo", limit=2, offset=1)] == ningbo[1:3]
    assert await store.list_messages(state="delivered") == []
    assert len(await store.list_messages(state="pending", limit=3)) == 3
    with pytest.raises(ValueError, match="state must be one of"):
        await store.list_messages(state="lost")


async def test_purge_delivered_before_a_time(store: Store) -> None:
    a, b = await queue(store, "ningbo", "ningbo")
    await store.claim_due(now=T0 + 5, limit=5, owner="w", lease_seconds=LEASE)
    await store.mark_delivered(a.id, "w", None, now=T0 + 10)
    await store.mark_delivered(b.id, "w", None, now=T0 + 20)
    assert await store.purge_delivered(before=T0 + 15) == 1
    assert [m.id for m in await store.list_messages()] == [b.id]


async def test_outbox_stats_per_destination(store: Store) -> None:
    n1, _n2, g1, s1 = await queue(store, "ningbo", "ningbo", "g60", "songjiang")
    await store.claim_due(now=T0 + 10, limit=1, owner="w", lease_seconds=LEASE)  # n1 delivering
    await store.claim_due(now=T0 + 10, limit=5, owner="w", lease_seconds=LEASE, destination="g60")
    await store.dead_letter(g1.id, "w", "REJECTED", "x")
    await store.claim_due(now=T0 + 10, limit=5, owner="w", lease_seconds=LEASE, destination="songjiang")
    await store.mark_delivered(s1.id, "w", None, now=T0 + 11)

    stats = await store.outbox_stats(now=T0 + 100)

    assert stats == {
        "g60": DestinationStats("g60", pending=0, delivering=0, dead=1, oldest_pending_age=None),
        "ningbo": DestinationStats("ningbo", pending=1, delivering=1, dead=0, oldest_pending_age=100.0),
        "songjiang": DestinationStats("songjiang", pending=0, delivering=0, dead=0, oldest_pending_age=None),
    }
    assert n1.created_at == T0


async def test_invalid_claim_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.claim_due(now=T0, limit=0, owner="w", lease_seconds=LEASE)
    with pytest.raises(ValueError, match="lease_seconds"):
        await store.claim_due(now=T0, limit=1, owner="w", lease_seconds=0)


async def test_two_stores_never_claim_the_same_message(backend: Backend) -> None:
    first, second = await backend.open(), await backend.open()
    total = 300
    for start in range(0, total, 50):
        await first.accept(
            inbound(key=f"bulk:{start}"),
            [message(id=f"m{i:04d}", now=T0 + i) for i in range(start, start + 50)],
        )

    async def worker(store: Store, owner: str) -> list[str]:
        got: list[str] = []
        while batch := await store.claim_due(now=T0 + total, limit=5, owner=owner, lease_seconds=LEASE):
            got.extend(m.id for m in batch)
            await asyncio.sleep(0.002)  # "sending": the other store gets its turn at the lock
            for m in batch:
                assert await store.mark_delivered(m.id, owner, None, now=T0 + total)
        return got

    results = await asyncio.gather(worker(first, "a1"), worker(second, "b1"), worker(first, "a2"), worker(second, "b2"))

    everything = [i for r in results for i in r]
    assert len(everything) == total
    assert len(set(everything)) == total
    assert results[0] + results[2]  # both stores took part
    assert results[1] + results[3]
