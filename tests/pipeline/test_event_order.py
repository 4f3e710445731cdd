"""A case's status events reach the platform in ``seq`` order (README §5.2), through retries and dead letters.

ningbo (zlb) files a case handled in 宣城 341800 (delivered to g60); hefei then reports its status events, which the
gateway routes back to ningbo, whose simulator refuses a ``seq`` lower than one it has accepted (``RULE_VIOLATION``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from pipeline_stack import Stack, StackFactory, sample, wait_for, wait_for_async

from gateway.store.api import DEAD, DELIVERED


async def file_case(stack: Stack, samples_dir: Path) -> Any:
    """File the case from ningbo; return a status event of it (seq to be set)."""
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")
    await stack.partner_client("ningbo").submit("case", case, "m-case")
    event = sample(stack.config, samples_dir, "anhui", "status", "SS002.json")
    return replace(event, case_no=case.case_no, handling_region="341800")


async def status_messages(stack: Stack) -> list[Any]:
    return [m for m in await stack.store.list_messages(destination="ningbo", limit=100) if m.kind == "status"]


def seqs(stack: Stack) -> list[int]:
    return [int(r["record"]["seq"]) for r in stack.book("ningbo").snapshot("status")]


async def test_a_later_event_does_not_overtake_an_earlier_one_waiting_for_its_retry(
    stack: Stack, samples_dir: Path
) -> None:
    """The issue's reproduction: ningbo answers 503; seq 1 is sent; the fault clears; seq 2 is sent. Before, seq 2
    went first and seq 1 died of RULE_VIOLATION; now seq 2 waits for seq 1's retry."""
    event = await file_case(stack, samples_dir)
    ningbo = stack.sims["ningbo"]
    ningbo.plan.update({"error_rate": 1.0})
    hefei = stack.partner_client("hefei")
    await hefei.submit("status", replace(event, seq=1), "m-s1")

    async def seq1_failed() -> bool:
        return any(m.attempts >= 1 and m.last_error_code for m in await status_messages(stack))

    await wait_for_async(seq1_failed, what="seq 1 failed once")
    ningbo.plan.update({"error_rate": 0.0})
    await hefei.submit("status", replace(event, seq=2), "m-s2")

    await wait_for(lambda: len(seqs(stack)) == 2, what="both events delivered")
    assert seqs(stack) == [1, 2]

    async def recorded() -> bool:
        return [m.state for m in await status_messages(stack)] == [DELIVERED, DELIVERED]

    await wait_for_async(recorded, what="both recorded as delivered")


async def admin(stack: Stack, method: str, path: str) -> Any:
    token = (stack.config.dev_credentials / "admin-token").read_text(encoding="ascii").strip()  # type: ignore[operator]
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{stack.gateway_url}{path}", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_a_dead_event_holds_its_successors_is_shown_with_them_and_replay_releases_them_in_order(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    short = {"delivery": {"destinations": {"ningbo": {"max_age": "2s"}}}}
    stack = await make_stack(store_url, extra=short)
    event = await file_case(stack, samples_dir)
    ningbo = stack.sims["ningbo"]
    ningbo.plan.update({"drop_rate": 1.0})
    hefei = stack.partner_client("hefei")
    await hefei.submit("status", replace(event, seq=1), "m-s1")

    async def seq1_dead() -> bool:
        return [m.state for m in await status_messages(stack)] == [DEAD]

    await wait_for_async(seq1_dead, what="seq 1 expired")
    [first] = await status_messages(stack)
    assert first.last_error_code == "DELIVERY_EXPIRED"
    ningbo.plan.update({"drop_rate": 0.0})  # the platform is back, but seq 1 is dead: 2 and 3 must not overtake it
    await hefei.submit("status", replace(event, seq=2), "m-s2")
    await hefei.submit("status", replace(event, seq=3), "m-s3")
    shown = await admin(stack, "GET", f"/admin/outbox/{first.id}")
    assert [m["idempotency_key"] for m in shown["blocked"]] == [f"{event.case_no}:2", f"{event.case_no}:3"]
    assert shown["order"] == {"key": event.case_no, "position": 1}
    assert seqs(stack) == []  # nothing overtook the dead seq 1

    await admin(stack, "POST", f"/admin/outbox/{first.id}/retry")
    await wait_for(lambda: len(seqs(stack)) == 3, what="the chain delivered after the replay")
    assert seqs(stack) == [1, 2, 3]
