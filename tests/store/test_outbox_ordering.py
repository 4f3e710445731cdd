"""The outbox keeps a case's messages in order per destination, expires overdue messages and renews leases; both
backends follow the one transition table (``gateway.store.transitions``)."""

from __future__ import annotations

import uuid

from store_helpers import T0, Backend, inbound

from gateway.store import OutboundMessage, Store
from gateway.store.api import DEAD, DELIVERED, DELIVERING, PENDING
from gateway.store.transitions import HOLDING, TRANSITIONS

LEASE = 30.0


def event(case: str, seq: int, destination: str = "ningbo", now: float = T0) -> OutboundMessage:
    return OutboundMessage.new(
        id=f"{case}-{seq}-{destination}-{uuid.uuid4().hex[:6]}", destination=destination, kind="status",
        idem_key=f"{case}:{seq}", message_id=uuid.uuid4().hex, payload=b"{}", now=now, order_key=case, order_seq=seq,
    )  # fmt: skip


async def put(store: Store, *messages: OutboundMessage) -> None:
    for m in messages:
        await store.accept(inbound(key=m.id, kind="status"), [m])


async def claim(store: Store, now: float = T0 + 1, owner: str = "w", destination: str | None = None) -> list[str]:
    return [m.id for m in await store.claim_due(now, 50, owner, LEASE, destination)]


async def test_a_case_s_later_event_waits_until_the_earlier_is_delivered(store: Store) -> None:
    s1, s2, s3 = event("C1", 1), event("C1", 2), event("C1", 3)
    await put(store, s3, s1, s2)  # queued out of order: the position decides, not the insertion
    assert await claim(store) == [s1.id]
    assert await claim(store) == []  # s2 and s3 wait while s1 is being delivered
    assert await store.schedule_retry(s1.id, "w", T0 + 5, "server_error", "503")
    assert await claim(store, now=T0 + 2) == []  # ... and while s1 waits for its retry
    assert await claim(store, now=T0 + 5) == [s1.id]
    assert await store.mark_delivered(s1.id, "w", b"R", T0 + 5)
    assert await claim(store, now=T0 + 6) == [s2.id]
    assert await store.mark_delivered(s2.id, "w", b"R", T0 + 6)
    assert await claim(store, now=T0 + 7) == [s3.id]


async def test_other_cases_and_other_destinations_go_in_parallel(store: Store) -> None:
    a1, a2, b1, c1_g60 = event("A", 1), event("A", 2), event("B", 1), event("A", 2, destination="g60")
    unordered = OutboundMessage.new(id="free", destination="ningbo", kind="licence", idem_key="L", message_id="m",
                                    payload=b"{}", now=T0)  # fmt: skip
    await put(store, a1, a2, b1, c1_g60, unordered)
    assert sorted(await claim(store)) == sorted([a1.id, b1.id, c1_g60.id, unordered.id])


async def test_an_expired_lease_is_claimed_again_before_its_successor(store: Store) -> None:
    s1, s2 = event("C", 1), event("C", 2)
    await put(store, s1, s2)
    assert await claim(store, owner="crashed") == [s1.id]
    assert await claim(store, now=T0 + 1 + LEASE, owner="w2") == [s1.id]  # the crashed worker's lease ran out


async def test_a_dead_message_holds_its_successors_until_replayed_or_discarded(store: Store) -> None:
    s1, s2, s3 = event("C", 1), event("C", 2), event("C", 3)
    await put(store, s1, s2, s3)
    await claim(store)
    assert await store.dead_letter(s1.id, "w", "BAD_FORMAT", "refused")
    assert await claim(store, now=T0 + 2) == []  # overtaking it would make the receiver refuse it for ever
    assert [m.id for m in await store.followers(s1.id)] == [s2.id, s3.id]

    assert await store.retry_dead(s1.id, T0 + 100)
    (again,) = await store.claim_due(T0 + 100, 50, "w", LEASE)
    assert again.id == s1.id and again.attempts == 1 and again.started == T0 + 100  # a fresh schedule
    assert await store.dead_letter(s1.id, "w", "BAD_FORMAT", "refused again")
    assert await store.discard(s1.id)
    assert await claim(store, now=T0 + 101) == [s2.id]  # discarded: the chain goes on without it


async def test_expire_dead_letters_overdue_unclaimed_messages_only(store: Store) -> None:
    old, young = event("A", 1, now=T0), event("B", 1, now=T0 + 50)
    held, crashed = event("C", 1, now=T0), event("D", 1, now=T0)
    other = event("E", 1, destination="g60", now=T0)
    await put(store, old, young, held, crashed, other)
    await store.claim_due(T0 + 1, 50, "w", 1000.0, "ningbo")  # everything of ningbo claimed, with a long lease
    await store.schedule_retry(old.id, "w", T0 + 500, "connection", "down")
    await store.schedule_retry(young.id, "w", T0 + 500, "connection", "down")
    await store.renew_lease(crashed.id, "w", T0 + 20)  # this owner's lease runs out at T0 + 20

    gone = await store.expire("ningbo", T0 + 10, T0 + 60, "DELIVERY_EXPIRED", "past max_age")
    assert sorted(m.id for m in gone) == sorted([old.id, crashed.id]) and {m.state for m in gone} == {DEAD}
    states = {m.id: (m.state, m.last_error_code) for m in await store.list_messages(limit=10)}
    assert states[old.id] == (DEAD, "DELIVERY_EXPIRED") and states[crashed.id] == (DEAD, "DELIVERY_EXPIRED")
    assert states[young.id][0] == PENDING  # started later than the cutoff
    assert states[held.id][0] == DELIVERING  # a live lease: its owner checks before it sends
    assert states[other.id][0] == PENDING  # another destination


async def test_renew_lease_is_owner_checked(backend: Backend) -> None:
    store = await backend.open()
    s1 = event("C", 1)
    await put(store, s1)
    await claim(store, owner="w1")
    assert await store.renew_lease(s1.id, "w1", T0 + 500)
    assert not await store.renew_lease(s1.id, "w2", T0 + 900)
    assert await claim(store, now=T0 + 400, owner="w2") == []  # renewed: not claimable before T0 + 500
    (m,) = await store.claim_due(T0 + 500, 5, "w2", LEASE)
    assert m.lease_owner == "w2" and not await store.renew_lease(s1.id, "w1", T0 + 900)


async def test_every_transition_of_the_table_on_this_backend(store: Store) -> None:
    """Walk the table: each transition from a source state it allows lands in its target state."""
    s1, s2 = event("W", 1), event("W", 2)
    await put(store, s1, s2)
    seen: set[str] = set()

    async def state(id: str) -> str | None:
        m = await store.get_message(id)
        return None if m is None else m.state

    await claim(store)  # claim: pending -> delivering
    seen.add("claim")
    assert await state(s1.id) == DELIVERING
    assert await store.renew_lease(s1.id, "w", T0 + 60) and await state(s1.id) == DELIVERING
    seen.add("renew")
    assert await store.schedule_retry(s1.id, "w", T0, "x", "y") and await state(s1.id) == PENDING
    seen.add("retry")
    await claim(store, now=T0 + 2)
    assert await store.dead_letter(s1.id, "w", "x", "y") and await state(s1.id) == DEAD
    seen.add("dead_letter")
    assert await store.retry_dead(s1.id, T0 + 3) and await state(s1.id) == PENDING
    seen.add("replay")
    assert len(await store.expire("ningbo", T0 + 3, T0 + 4, "DELIVERY_EXPIRED", "old")) == 2
    assert await state(s1.id) == DEAD and await state(s2.id) == DEAD
    seen.add("expire")
    assert await store.discard(s1.id) and await state(s1.id) is None
    seen.add("discard")
    assert await store.retry_dead(s2.id, T0 + 5)
    await claim(store, now=T0 + 5)
    assert await store.mark_delivered(s2.id, "w", b"R", T0 + 5) and await state(s2.id) == DELIVERED
    seen.add("deliver")
    assert await store.purge_delivered(T0 + 6) == 1 and await state(s2.id) is None
    seen.add("purge")
    assert seen == set(TRANSITIONS)
    assert DELIVERED not in HOLDING
