"""accept(): inbound record + outbound messages in one transaction; repeats get the first receipt."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from store_helpers import T0, inbound, message

from gateway.store import Accepted, Store, StoreConflict


async def test_new_submission_is_recorded_with_its_messages(store: Store) -> None:
    m = message()
    result = await store.accept(inbound(receipt=b"first"), [m])

    assert result == Accepted(new=True, receipt=b"first", receipt_type="application/json")
    stored = await store.get_receipt("case", "3205002405030562129:4")
    assert stored is not None
    assert (stored.source, stored.received_at, stored.receipt) == ("hefei", T0, b"first")
    assert await store.get_message(m.id) == m


async def test_repeat_gets_first_receipt_and_queues_nothing(store: Store) -> None:
    first = message()
    await store.accept(inbound(receipt=b"first"), [first])

    again = await store.accept(inbound(receipt=b"second"), [message(), message(destination="g60")])

    assert again == Accepted(new=False, receipt=b"first", receipt_type="application/json")
    assert [m.id for m in await store.list_messages()] == [first.id]


async def test_same_key_of_another_kind_is_a_different_record(store: Store) -> None:
    await store.accept(inbound(kind="case"), [message()])
    other = await store.accept(inbound(kind="status", receipt=b"S"), [message()])
    assert other.new
    assert other.receipt == b"S"
    assert len(await store.list_messages()) == 2


async def test_fan_out_queues_every_message_atomically(store: Store) -> None:
    msgs = [message(destination=d) for d in ("ningbo", "g60", "songjiang", "changsha")]
    await store.accept(inbound(), msgs)
    listed = await store.list_messages()
    assert sorted(m.destination for m in listed) == ["changsha", "g60", "ningbo", "songjiang"]
    assert {m.id for m in listed} == {m.id for m in msgs}
    assert all(m.state == "pending" and m.attempts == 0 for m in listed)


async def test_inbound_without_messages_is_fine(store: Store) -> None:
    assert (await store.accept(inbound(), [])).new
    assert (await store.accept(inbound(), [])).new is False


async def test_50_concurrent_repeats_create_one_delivery(store: Store) -> None:
    results = await asyncio.gather(*(store.accept(inbound(receipt=f"r{i}".encode()), [message()]) for i in range(50)))
    winners = [r for r in results if r.new]
    assert len(winners) == 1
    assert {r.receipt for r in results} == {winners[0].receipt}
    assert len(await store.list_messages()) == 1


async def test_failed_accept_leaves_nothing_behind(store: Store) -> None:
    taken = message(id="same-id")
    await store.accept(inbound(key="A:1"), [taken])

    with pytest.raises(StoreConflict) as caught:
        await store.accept(inbound(key="B:1"), [message(id="fresh"), message(id="same-id")])

    assert caught.value.operation == "accept"
    assert "same-id" not in str(caught.value)  # no values in exception text
    assert await store.get_receipt("case", "B:1") is None
    assert await store.get_message("fresh") is None
    # the store still works after the rollback
    assert (await store.accept(inbound(key="B:1"), [message(id="fresh")])).new


@pytest.mark.parametrize(
    "change",
    [{"state": "delivering"}, {"lease_owner": "w1"}, {"lease_until": T0 + 5}],
)
async def test_only_fresh_messages_are_accepted(store: Store, change: dict[str, object]) -> None:
    bad = dataclasses.replace(message(), **change)
    with pytest.raises(ValueError, match="pending, unleased"):
        await store.accept(inbound(), [bad])
    assert await store.get_receipt("case", "3205002405030562129:4") is None


async def test_duplicate_ids_in_one_call_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="twice"):
        await store.accept(inbound(), [message(id="x"), message(id="x")])


async def test_unknown_receipt_is_none(store: Store) -> None:
    assert await store.get_receipt("case", "nope") is None
    assert await store.get_message("nope") is None


def test_payload_and_receipts_stay_out_of_repr() -> None:
    m = message(payload=b"ID 11010519491231002X")
    r = inbound(receipt=b"ID 11010519491231002X")
    a = Accepted(new=True, receipt=b"ID 11010519491231002X", receipt_type="x")
    for obj in (m, r, a):
        assert "11010519491231002X" not in repr(obj)
