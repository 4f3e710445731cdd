"""hunan.md §1: a repeated ``(case_no, version)`` answers 200 with the FIRST result, ``received_at`` included, on
every gateway instance sharing the store and after a restart (the first acceptance time comes from the store's
inbound record, not from one process's memory)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_stack import StackFactory, sample


async def test_repeats_answer_the_first_received_at_on_every_instance_and_after_a_restart(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    stack = await make_stack(store_url)
    case = sample(stack.config, samples_dir, "hunan", "case", "SC001.json")
    first = await stack.partner_client("changsha").submit("case", case, "m-1")
    assert not first.repeated
    _, second_url = await stack.add_gateway(run_workers=False)
    await asyncio.sleep(1.1)  # received_at has whole seconds: a new answer would now differ

    again = await stack.partner_client("changsha").submit("case", case, "m-2")
    elsewhere = await stack.partner_client("changsha", second_url).submit("case", case, "m-3")
    assert again.repeated and elsewhere.repeated
    assert again.receipt_no == elsewhere.receipt_no == first.receipt_no  # case_no@received_at, the first one

    await stack.close()
    restarted = await make_stack(store_url)
    after = await restarted.partner_client("changsha").submit("case", case, "m-4")
    assert after.repeated and after.receipt_no == first.receipt_no
