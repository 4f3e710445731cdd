"""A destination that is down, throttles, or refuses: the backlog waits in the outbox and nothing is lost.

hefei (anhui) submits cases handled in 苏州 320500, which the gateway delivers to the g60 simulator; the simulator's
fault plan takes it down (connections dropped), throttles it (429 with Retry-After), or its book refuses a status
seq lower than one already accepted (README §5.2, ``RULE_VIOLATION``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from pipeline_stack import Stack, StackFactory, sample, wait_for, wait_for_async

from gateway.delivery import DELIVERY_EXPIRED, BreakerState
from gateway.pipeline import operator
from gateway.store.api import DEAD, DELIVERED, PENDING

N = 12


async def g60_messages(stack: Stack) -> list[Any]:
    return list(await stack.store.list_messages(destination="g60", limit=1000))


async def submit_cases(stack: Stack, samples_dir: Path, versions: range) -> list[Any]:
    base = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    client = stack.partner_client("hefei")
    cases = [replace(base, version=v) for v in versions]
    await asyncio.gather(*(client.submit("case", c, f"m-{c.version}") for c in cases))
    return cases


async def test_a_down_destination_keeps_its_backlog_opens_its_breaker_and_drains_once(
    stack: Stack, samples_dir: Path
) -> None:
    g60 = stack.sims["g60"]
    g60.plan.down_until = time.time() + 3600
    cases = await submit_cases(stack, samples_dir, range(1, N + 1))

    await wait_for(lambda: stack.worker.breaker_state("g60") is BreakerState.OPEN, what="g60 breaker open")
    await wait_for_async(lambda: _tried(stack), what="every message tried")
    first = await g60_messages(stack)
    await asyncio.sleep(1.2)  # several cool-downs and backoff rounds
    later = await g60_messages(stack)
    assert len(later) == N and all(m.state in (PENDING, "delivering") for m in later)
    assert sum(m.attempts for m in later) > sum(m.attempts for m in first)
    assert max(m.next_attempt_at for m in later) > max(m.next_attempt_at for m in first)
    assert {m.last_error_code for m in later if m.state == PENDING} <= {"connection", "BREAKER_OPEN", "NOT_SENT"}
    assert g60.sim.book.calls == 0
    view = await admin_delivery(stack)  # what an operator sees: the breaker and the waiting backlog
    assert view["breakers"]["g60"] in ("open", "half_open")
    assert view["outbox"]["g60"]["pending"] + view["outbox"]["g60"]["delivering"] == N
    assert view["outbox"]["g60"]["dead"] == 0 and view["outcomes"].get("delivered", 0) == 0
    assert stack.worker.counts["retry"] > 0 and stack.worker.counts["delivered"] == 0

    g60.plan.down_until = 0
    book = g60.sim.book
    await wait_for(lambda: len(book.snapshot("case")) == N, what="backlog drained")
    await wait_for_async(lambda: _all_delivered(stack, N), what="outbox delivered")
    assert Counter(r["key"] for r in book.snapshot("case")) == Counter(f"case:{c.case_no}:{c.version}" for c in cases)
    assert book.calls == N  # each message reached the destination once
    assert stack.worker.breaker_state("g60") is BreakerState.CLOSED


async def admin_delivery(stack: Stack) -> Any:
    token = (stack.config.dev_credentials / "admin-token").read_text(encoding="ascii").strip()  # type: ignore[operator]
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stack.gateway_url}/admin/delivery", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        assert resp.status == 200
        return await resp.json()


async def _tried(stack: Stack) -> bool:
    return all(m.attempts >= 1 and m.state == PENDING for m in await g60_messages(stack))


async def _all_delivered(stack: Stack, n: int) -> bool:
    messages = await g60_messages(stack)
    return len(messages) == n and all(m.state == DELIVERED for m in messages)


async def test_429_retry_after_is_honoured(stack: Stack, samples_dir: Path) -> None:
    g60 = stack.sims["g60"]
    g60.plan.update({"throttle_rate": 1.0, "retry_after": 1})
    await submit_cases(stack, samples_dir, range(1, 2))
    await asyncio.sleep(0.4)  # a retry ignoring Retry-After would have come (and been throttled) by now
    g60.plan.update({"throttle_rate": 0.0})
    await wait_for_async(lambda: _all_delivered(stack, 1), what="delivered after the throttle")
    [message] = await g60_messages(stack)
    # the next try waited for the platform's Retry-After (1 s), not the 10 ms short wait or the 200 ms backoff
    assert message.delivered_at - message.created_at >= 1.0
    assert g60.sim.book.calls == 1


async def test_a_business_refusal_is_a_dead_letter_at_once(stack: Stack, samples_dir: Path) -> None:
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, 宣城 341800 → g60
    await stack.partner_client("ningbo").submit("case", case, "m-case")
    event = sample(stack.config, samples_dir, "anhui", "status", "SS002.json")
    event = replace(event, case_no=case.case_no, handling_region="341800", seq=5)
    hefei = stack.partner_client("hefei")
    await hefei.submit("status", event, "m-seq5")
    ningbo = stack.book("ningbo")
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1, what="seq 5 delivered")

    # ningbo accepted seq 9 of this case through a channel the gateway does not see (its own window): the gateway
    # takes seq 6 (higher than any it accepted; a lower one is refused at intake, test_status_seq.py), ningbo refuses
    ningbo.highest_seq[case.case_no] = 9
    await hefei.submit("status", replace(event, seq=6), "m-seq6")
    dead = await _wait_dead(stack, "ningbo")
    assert dead.last_error_code == "RULE_VIOLATION"
    assert dead.attempts == 1  # no retry: sending it again cannot help
    assert dead.idem_key == f"{case.case_no}:6"
    assert len(ningbo.snapshot("status")) == 1


async def _wait_dead(stack: Stack, destination: str) -> Any:
    found: list[Any] = []

    async def dead() -> bool:
        found[:] = await stack.store.list_messages(state=DEAD, destination=destination)
        return bool(found)

    await wait_for_async(dead, what=f"a dead letter for {destination}")
    return found[0]


async def test_max_age_holds_while_the_breaker_is_open(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """An open breaker attempts nothing, so checking age only after a failed attempt let messages outlive their
    max_age by as long as the destination stayed down; expiry is now the worker's own sweep."""
    extra = {"delivery": {"destinations": {"g60": {"max_age": "1500ms"}}, "breaker": {"cool_down": "60s"}}}
    stack = await make_stack(store_url, extra=extra)
    g60 = stack.sims["g60"]
    g60.plan.down_until = time.time() + 3600
    await submit_cases(stack, samples_dir, range(1, N + 1))
    await wait_for(lambda: stack.worker.breaker_state("g60") is BreakerState.OPEN, what="g60 breaker open")

    async def all_dead() -> bool:
        return all(m.state == DEAD for m in await g60_messages(stack))

    await wait_for_async(all_dead, timeout=10, what="every message expired")
    messages = await g60_messages(stack)
    late = time.time() - (max(m.created_at for m in messages) + 1.5)
    assert late < 5  # the sweep runs about once a second (plus a loaded machine's slack), not at the next attempt
    assert {m.last_error_code for m in messages} == {DELIVERY_EXPIRED}
    assert stack.worker.breaker_state("g60") is BreakerState.OPEN  # the breaker had no say in it
    # each counted once as a dead letter: by the sweep, or (on a loaded machine, when a retry came due after
    # max_age before the breaker opened) by the policy's own expiry of a failed attempt; both say DELIVERY_EXPIRED
    assert stack.worker.counts["expired"] + stack.worker.counts["dead"] == N
    g60.plan.down_until = 0
    await asyncio.sleep(0.5)
    assert g60.sim.book.calls == 0  # nothing delivered after its deadline


async def test_a_replayed_dead_letter_gets_a_fresh_schedule_not_one_attempt(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    stack = await make_stack(store_url, extra={"delivery": {"destinations": {"g60": {"max_age": "3s"}}}})
    g60 = stack.sims["g60"]
    g60.plan.down_until = time.time() + 3600
    await submit_cases(stack, samples_dir, range(1, 2))

    async def dead() -> bool:
        return [m.state for m in await g60_messages(stack)] == [DEAD]

    await wait_for_async(dead, timeout=15, what="expired while g60 is down")
    [message] = await g60_messages(stack)
    assert await operator.retry(stack.store, message.id, time.time())  # g60 is still down
    await asyncio.sleep(1.0)  # before, the replay had one attempt and was dead again at once
    [again] = await g60_messages(stack)
    assert again.state != DEAD and again.attempts >= 1  # tried again, and still inside its fresh 3 s
    g60.plan.down_until = 0
    await wait_for_async(lambda: _all_delivered(stack, 1), what="delivered once g60 is back")
    assert g60.sim.book.calls == 1
