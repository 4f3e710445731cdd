"""Issue 11 item 3: a status event whose ``seq`` is lower than one already accepted for its case is refused
``RULE_VIOLATION`` at intake with nothing stored (README §5.2); a repeat still gets its first receipt (README §9,
§10), on SQLite and PostgreSQL, through one gateway instance or two sharing the store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pipeline_stack import Stack, StackFactory, sample, wait_for

from gateway.errors import Refusal

SEQ_FIELD = "DATAVER"  # anhui.md §6.2: the status event's seq


def _event(stack: Stack, samples_dir: Path, seq: int, case_no: str = "3302002405421339994") -> Any:
    event = sample(stack.config, samples_dir, "anhui", "status", "SS001.json")  # 宁波 330200 → ningbo
    return replace(event, case_no=case_no, seq=seq)


async def _status_messages(stack: Stack) -> list[Any]:
    return [m for m in await stack.store.list_messages() if m.kind == "status"]


async def test_a_status_seq_lower_than_one_accepted_is_refused_rule_violation_and_nothing_stored(
    stack: Stack, samples_dir: Path
) -> None:
    client = stack.partner_client("hefei")
    await client.submit("status", _event(stack, samples_dir, 5), "m-s5")
    with pytest.raises(Refusal) as info:
        await client.submit("status", _event(stack, samples_dir, 3), "m-s3")
    assert (info.value.code, info.value.where) == ("RULE_VIOLATION", SEQ_FIELD)
    assert [m.idem_key for m in await _status_messages(stack)] == ["3302002405421339994:5"]
    assert await stack.store.get_receipt("status", "3302002405421339994:3") is None
    ningbo = stack.book("ningbo")
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1, what="ningbo got seq 5")
    await asyncio.sleep(0.2)
    assert [r["record"]["seq"] for r in ningbo.snapshot("status")] == [5]
    # another case is another sequence
    await client.submit("status", _event(stack, samples_dir, 1, case_no="3302002405421339995"), "m-o1")


async def test_a_repeat_of_an_older_status_event_gets_its_first_receipt_not_a_refusal(
    stack: Stack, samples_dir: Path
) -> None:
    """README §10 puts the idempotency key before the seq rule: seq 3 sent again after seq 5 is a repeat."""
    client = stack.partner_client("hefei")
    first = await client.submit("status", _event(stack, samples_dir, 3), "m-r3")
    fifth = await client.submit("status", _event(stack, samples_dir, 5), "m-r5")
    again = await client.submit("status", _event(stack, samples_dir, 3), "m-r3-again")
    assert again.receipt_no == first.receipt_no
    assert (await client.submit("status", _event(stack, samples_dir, 5), "m-r5-again")).receipt_no == fifth.receipt_no
    assert len(await _status_messages(stack)) == 2
    await client.submit("status", _event(stack, samples_dir, 6), "m-r6")  # a higher seq is still taken


async def test_a_lower_status_seq_is_refused_through_another_gateway_instance(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    stack = await make_stack(store_url)
    _, second_url = await stack.add_gateway()
    await stack.partner_client("hefei").submit("status", _event(stack, samples_dir, 7), "m-i7")
    with pytest.raises(Refusal) as info:
        await stack.partner_client("hefei", second_url).submit("status", _event(stack, samples_dir, 2), "m-i2")
    assert info.value.code == "RULE_VIOLATION"


async def test_racing_status_events_never_accept_a_seq_below_an_accepted_one(stack: Stack, samples_dir: Path) -> None:
    """Ten events of one case at once: the highest is never refused (the store raises the case's maximum
    atomically, so no lower event can overtake it), each refused one is lower than an accepted one, and exactly the
    accepted ones are stored."""
    client = stack.partner_client("hefei")

    async def send(seq: int) -> str | None:
        try:
            await client.submit("status", _event(stack, samples_dir, seq), f"m-race-{seq}")
        except Refusal as exc:
            return exc.code
        return None

    results = await asyncio.gather(*(send(seq) for seq in range(1, 11)))
    assert set(results) <= {None, "RULE_VIOLATION"}
    accepted = [seq for seq, code in zip(range(1, 11), results, strict=True) if code is None]
    refused = [seq for seq, code in zip(range(1, 11), results, strict=True) if code is not None]
    assert 10 in accepted
    assert all(any(a > r for a in accepted) for r in refused)
    stored = sorted(int(m.idem_key.rsplit(":", 1)[1]) for m in await _status_messages(stack))
    assert stored == sorted(accepted)
