"""Two gateway instances on one PostgreSQL schema drain a shared backlog with no double delivery, and a clean stop
leaves no message claimed."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from pipeline_stack import StackFactory, sample, wait_for, wait_for_async

from gateway.server.keys import WORKER
from gateway.store import open_store
from gateway.store.api import DELIVERED, DELIVERING, PENDING

BACKLOG = 300


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_instances_drain_a_shared_backlog_without_double_delivery(
    pg_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    stack = await make_stack(pg_url, run_workers=False)  # the first instance only takes submissions
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    client = stack.partner_client("hefei")
    limit = asyncio.Semaphore(16)

    async def submit(version: int) -> None:
        async with limit:
            await client.submit("case", replace(base, version=version), f"m-{version}")

    await asyncio.gather(*(submit(v) for v in range(1, BACKLOG + 1)))
    assert len(await stack.store.list_messages(state=PENDING, limit=1000)) == BACKLOG

    one, _ = await stack.add_gateway()
    two, _ = await stack.add_gateway()
    book = stack.book("g60")
    await wait_for(lambda: len(book.snapshot("case")) == BACKLOG, timeout=60, what="backlog drained")

    async def all_recorded() -> bool:
        return len(await stack.store.list_messages(state=DELIVERED, limit=1000)) == BACKLOG

    await wait_for_async(all_recorded, what="every delivery recorded")
    keys = Counter(r["key"] for r in book.snapshot("case"))
    assert len(keys) == BACKLOG and set(keys.values()) == {1}
    assert book.calls == BACKLOG  # no message was sent twice, not even to be deduplicated
    delivered = [one[WORKER].counts["delivered"], two[WORKER].counts["delivered"]]
    assert sum(delivered) == BACKLOG and min(delivered) > 0  # both instances took part


async def test_a_clean_stop_finishes_sends_in_progress_and_hands_back_the_rest(
    make_stack: StackFactory, tmp_path: Path, samples_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    stack = await make_stack(url, extra={"delivery": {"worker": {"per_destination": 4, "poll_interval": 0.05}}})
    g60 = stack.sims["g60"]
    g60.plan.latency_ms = 400  # every delivery takes a while
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")
    client = stack.partner_client("hefei")
    await asyncio.gather(*(client.submit("case", replace(base, version=v), f"m-{v}") for v in range(1, 13)))
    await wait_for(lambda: stack.worker.in_flight >= 4, what="deliveries in flight")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await stack.close()  # the app's cleanup stops the worker; the simulators are still up until after it
    assert time.monotonic() - started < 5

    store = await open_store(url)
    try:
        messages = await store.list_messages(limit=100)
    finally:
        await store.close()
    states = Counter(m.state for m in messages)
    assert states[DELIVERING] == 0  # nothing left claimed with a live lease
    assert states[DELIVERED] == len(g60.sim.book.snapshot("case")) >= 4  # each send that went out is recorded
    assert states[DELIVERED] + states[PENDING] == 12
    assert {m.last_error_code for m in messages if m.state == PENDING} <= {"NOT_SENT"}


async def test_the_pipeline_works_on_either_store_after_a_restart(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """What one instance accepted and did not deliver, the next instance on the same store delivers."""
    first = await make_stack(store_url, run_workers=False)
    base = sample(first.config, samples_dir, "anhui", "case", "SC001.json")
    receipt = await first.partner_client("hefei").submit("case", base, "m-1")
    await first.close()
    second = await make_stack(store_url)
    again = await second.partner_client("hefei").submit("case", base, "m-2")
    assert again.receipt_no == receipt.receipt_no  # the idempotency record survived the restart
    book = second.book("g60")
    await wait_for(lambda: len(book.snapshot("case")) == 1, what="delivered by the second instance")

    async def delivered() -> bool:
        return [m.state for m in await second.store.list_messages()] == [DELIVERED]

    await wait_for_async(delivered, what="recorded as delivered")


async def test_a_send_longer_than_the_lease_is_not_sent_again_by_another_instance(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """g60 answers after 1.5 s, the lease is 1 s: the sending worker renews its lease while it waits, so neither it
    nor the second instance claims the message again (before renewal, every message went out twice)."""
    lease = {"delivery": {"worker": {"lease_seconds": 1.0, "poll_interval": 0.05}}}
    stack = await make_stack(store_url, extra=lease)
    await stack.add_gateway()  # a second instance on the same store, claiming all along
    g60 = stack.sims["g60"]
    g60.plan.latency_ms = 1500
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    client = stack.partner_client("hefei")
    await asyncio.gather(*(client.submit("case", replace(base, version=v), f"m-lease-{v}") for v in range(1, 7)))
    book = g60.sim.book

    async def all_recorded() -> bool:
        return len(await stack.store.list_messages(state=DELIVERED, limit=100)) == 6

    await wait_for_async(all_recorded, timeout=20, what="every delivery recorded")
    await asyncio.sleep(1.2)  # a second send, if any, would have started by now
    assert len(book.snapshot("case")) == 6
    assert book.calls == 6  # each message went out once, not once per lease
