"""Where records go: 一窗办 fan-out to several destinations, status events back to the case's origin, evaluations
to the region's platform, and a destination that does not carry the type refused at intake (README §4, §10)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pipeline_stack import Stack, StackFactory, sample, wait_for, wait_for_async

from gateway.errors import Refusal
from gateway.store.api import DELIVERED, PENDING

FAN_OUT = {"routes": [{"record_types": ["case"], "regions": ["320500"], "destinations": ["g60", "changsha"]}]}


async def test_a_route_fans_a_case_out_to_two_destinations_once_each(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    stack = await make_stack(store_url, extra=FAN_OUT)
    case = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500
    client = stack.partner_client("hefei")
    first = await client.submit("case", case, "m-1")
    assert (await client.submit("case", case, "m-2")).receipt_no == first.receipt_no
    for pid in ("g60", "changsha"):
        book = stack.book(pid)
        await wait_for(lambda b=book: len(b.snapshot("case")) == 1, what=f"{pid} got the case")
    await asyncio.sleep(0.2)
    for pid in ("g60", "changsha"):
        assert stack.book(pid).calls == 1
        assert stack.book(pid).snapshot("case")[0]["record"]["case_no"] == case.case_no
    messages = await stack.store.list_messages()
    assert sorted(m.destination for m in messages) == ["changsha", "g60"]
    assert {m.idem_key for m in messages} == {f"{case.case_no}:{case.version}"}


async def test_one_destination_down_only_that_one_retries(
    make_stack: StackFactory, tmp_path: Path, samples_dir: Path
) -> None:
    stack = await make_stack(f"sqlite:///{tmp_path / 'gw.db'}", extra=FAN_OUT)
    stack.sims["changsha"].plan.down_until = time.time() + 3600
    case = sample(stack.config, samples_dir, "anhui", "case", "SC001.json")
    await stack.partner_client("hefei").submit("case", case, "m-1")
    g60 = stack.book("g60")
    await wait_for(lambda: len(g60.snapshot("case")) == 1, what="g60 delivered")

    async def changsha_retried() -> bool:
        [m] = await stack.store.list_messages(destination="changsha")
        return m.state == PENDING and m.attempts >= 2

    await wait_for_async(changsha_retried, what="changsha retried")
    [done] = await stack.store.list_messages(destination="g60")
    assert done.state == DELIVERED and done.attempts == 1
    assert g60.calls == 1  # the delivered half is not sent again while the other retries

    stack.sims["changsha"].plan.down_until = 0
    changsha = stack.book("changsha")
    await wait_for(lambda: len(changsha.snapshot("case")) == 1, what="changsha delivered after it came back")
    assert g60.calls == 1 and changsha.calls == 1


async def test_an_evaluation_goes_to_the_platform_of_its_region(stack: Stack, samples_dir: Path) -> None:
    evaluation = sample(stack.config, samples_dir, "anhui", "evaluation", "SE001.json")  # 淮南 340400
    await stack.partner_client("hefei").submit("evaluation", evaluation, "m-e1")
    huainan = stack.book("huainan")
    await wait_for(lambda: len(huainan.snapshot("evaluation")) == 1, what="huainan got the evaluation")
    assert huainan.snapshot("evaluation")[0]["record"]["eval_id"] == evaluation.eval_id
    assert huainan.snapshot("evaluation")[0]["key"] == f"evaluation:{evaluation.eval_id}"


async def test_an_evaluation_for_a_platform_without_evaluations_is_refused_at_intake(
    stack: Stack, samples_dir: Path
) -> None:
    evaluation = sample(stack.config, samples_dir, "anhui", "evaluation", "SE001.json")
    evaluation = replace(evaluation, region="320500")  # 苏州 is served by g60, which carries no evaluations
    with pytest.raises(Refusal) as info:
        await stack.partner_client("hefei").submit("evaluation", evaluation, "m-e2")
    assert info.value.code == "UNSUPPORTED_TYPE"
    assert await stack.store.list_messages() == []  # nothing half-accepted waits in the outbox
    assert await stack.store.get_receipt("evaluation", evaluation.eval_id) is None


async def test_a_status_event_for_an_unknown_case_goes_to_the_region_platform(stack: Stack, samples_dir: Path) -> None:
    event = sample(stack.config, samples_dir, "anhui", "status", "SS001.json")  # 宁波 330200, case never carried
    await stack.partner_client("hefei").submit("status", event, "m-s1")
    ningbo = stack.book("ningbo")
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1, what="ningbo got the status event")
    assert ningbo.snapshot("status")[0]["key"] == f"status:{event.case_no}:{event.seq}"


async def test_a_repeat_gets_its_first_receipt_even_when_it_could_not_be_routed_today(
    make_stack: StackFactory, tmp_path: Path, samples_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    first = await make_stack(url, run_workers=False)
    case = sample(first.config, samples_dir, "anhui", "case", "SC001.json")
    receipt = await first.partner_client("hefei").submit("case", case, "m-1")
    await first.close()
    # the configuration changed: 苏州 cases now go back to hefei itself, which is no destination
    second = await make_stack(url, extra={"routes": [{"regions": ["320500"], "destinations": ["hefei"]}]})
    client = second.partner_client("hefei")
    assert (await client.submit("case", case, "m-2")).receipt_no == receipt.receipt_no
    with pytest.raises(Refusal) as info:
        await client.submit("case", replace(case, version=case.version + 1), "m-3")
    assert info.value.code == "RULE_VIOLATION"


HEFEI_AND_HUAINAN = {
    "routes": [{"record_types": ["case"], "regions": ["340100"], "destinations": ["hefei", "huainan"]}]
}


async def test_a_case_one_destination_cannot_carry_is_refused_at_intake_not_dead_lettered_after_its_receipt(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """Issue 13: 000109021000 (出生医学证明补发) has a Hefei code and no Huainan code. Intake checked the hefei
    column for both destinations (the site rule), delivery encoded the huainan copy with the huainan column: the case
    got a receipt, then the gateway's own encoder dead-lettered it. Both now ask ``item_codes_for``: the case is
    refused at intake with UNKNOWN_ITEM at ningbo's item field, and nothing is stored or sent."""
    stack = await make_stack(store_url, extra=HEFEI_AND_HUAINAN)
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")
    case = replace(case, item_code="000109021000", item_type="PUBLIC_SERVICE", handling_region="340100")
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").submit("case", case, "m-hh1")
    item_field = stack.config.registry.adapter("zlb").mapping("case").item_where
    assert (info.value.code, info.value.where) == ("UNKNOWN_ITEM", item_field)
    assert await stack.store.list_messages() == []
    assert await stack.store.get_receipt("case", f"{case.case_no}:{case.version}") is None
    await asyncio.sleep(0.2)
    assert stack.book("hefei").calls == stack.book("huainan").calls == 0


async def test_a_case_both_destinations_carry_reaches_each_with_its_own_item_code(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """The same route with an item both Anhui sites offer: both copies are delivered (no copy dies on the gateway's
    own encoder)."""
    stack = await make_stack(store_url, extra=HEFEI_AND_HUAINAN)
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")  # 000172001000, both sites offer it
    case = replace(case, handling_region="340100")
    await stack.partner_client("ningbo").submit("case", case, "m-hh2")
    for pid in ("hefei", "huainan"):
        book = stack.book(pid)
        await wait_for(lambda b=book: len(b.snapshot("case")) == 1, what=f"{pid} got the case")
        assert book.snapshot("case")[0]["record"]["item_code"] == "000172001000"

    async def all_delivered() -> bool:
        return all(m.state == DELIVERED for m in await stack.store.list_messages())

    await wait_for_async(all_delivered, what="both copies marked delivered")
