"""The claim that stops early (a LIMIT inside each state's half) and the outcome that carries its attempt's line.

The claim must still hand out exactly what one sort of the whole due backlog would: the oldest due first, ties
broken by id, with expired leases and pending messages merged in one order. An outcome with its attempt writes
both or neither, on both backends.
"""

from __future__ import annotations

import uuid

from store_helpers import T0, inbound, message

from gateway.store import OutboundMessage, Store
from gateway.store.api import DELIVERED, PENDING, DeliveryAttempt

LEASE = 30.0


async def _queue(store: Store, times: list[float], destinations: list[str]) -> list[OutboundMessage]:
    queued = []
    for i, (at, destination) in enumerate(zip(times, destinations, strict=True)):
        m = message(destination=destination, idem_key=f"K{i}", now=at)
        await store.accept(inbound(key=f"K{i}:{uuid.uuid4().hex}"), [m])
        queued.append(m)
    return queued


async def test_claims_drain_a_backlog_in_exact_due_order_with_ties_broken_by_id(store: Store) -> None:
    times = [T0 + i // 3 for i in range(60)]  # three messages due at each instant
    queued = await _queue(store, times, ["g60"] * 60)
    expected = [m.id for m in sorted(queued, key=lambda m: (m.next_attempt_at, m.id))]

    claimed: list[str] = []
    while batch := await store.claim_due(now=T0 + 100, limit=7, owner="w", lease_seconds=LEASE):
        claimed += [m.id for m in batch]

    assert claimed == expected


async def test_expired_leases_and_pending_messages_are_claimed_in_one_merged_order(store: Store) -> None:
    destinations = ["ningbo" if i % 2 == 0 else "g60" for i in range(10)]
    queued = await _queue(store, [T0 + i for i in range(10)], destinations)
    leased = await store.claim_due(now=T0 + 10, limit=10, owner="w1", lease_seconds=LEASE, destination="ningbo")
    assert [m.id for m in leased] == [m.id for m in queued[0::2]]  # the even ones now delivering

    # After the leases ran out: the five oldest, alternating between the expired half and the pending half.
    again = await store.claim_due(now=T0 + 10 + LEASE, limit=5, owner="w2", lease_seconds=LEASE)

    assert [m.id for m in again] == [m.id for m in queued[:5]]
    assert [m.attempts for m in again] == [2, 1, 2, 1, 2]


async def test_an_outcome_writes_its_attempt_line_only_when_the_lease_holder_records_it(store: Store) -> None:
    (m,) = await _queue(store, [T0], ["g60"])
    await store.claim_due(now=T0, limit=1, owner="w", lease_seconds=LEASE)
    line = DeliveryAttempt(m.id, 1, T0 + 2, "retry", "HTTP_503", 0.5)

    assert not await store.schedule_retry(m.id, "intruder", T0 + 9, "HTTP_503", "busy", attempt=line)
    assert await store.list_attempts(m.id) == []

    assert await store.schedule_retry(m.id, "w", T0 + 9, "HTTP_503", "busy", attempt=line)
    assert await store.list_attempts(m.id) == [line]
    assert (await store.get_message(m.id)).state == PENDING  # type: ignore[union-attr]


async def test_a_history_line_already_there_never_undoes_the_outcome(store: Store) -> None:
    (m,) = await _queue(store, [T0], ["g60"])
    await store.claim_due(now=T0, limit=1, owner="w", lease_seconds=LEASE)
    line = DeliveryAttempt(m.id, 1, T0 + 1, "delivered", None, 0.25)
    await store.record_attempt(line)

    assert await store.mark_delivered(m.id, "w", b"receipt", T0 + 1, attempt=line)

    assert (await store.get_message(m.id)).state == DELIVERED  # type: ignore[union-attr]
    assert await store.list_attempts(m.id) == [line]


async def test_a_dead_letter_and_its_line_are_one_record(store: Store) -> None:
    (m,) = await _queue(store, [T0], ["g60"])
    await store.claim_due(now=T0, limit=1, owner="w", lease_seconds=LEASE)
    line = DeliveryAttempt(m.id, 1, T0 + 3, "dead", "BAD_FORMAT", 1.5)

    assert await store.dead_letter(m.id, "w", "BAD_FORMAT", "refused", attempt=line)
    assert not await store.dead_letter(m.id, "w", "BAD_FORMAT", "refused", attempt=line)  # no lease any more

    assert await store.list_attempts(m.id) == [line]
