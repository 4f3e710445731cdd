"""Partners submit through the gateway; the gateway delivers to the destination platforms' simulators."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pipeline_stack import Stack

from gateway.delivery import ServerError
from gateway.errors import Refusal


def sample(stack: Stack, samples_dir: Path, dialect: str, record_type: str, name: str) -> Any:
    body = (samples_dir / dialect / record_type / name).read_bytes()
    return stack.config.registry.adapter(dialect).decode(record_type, body)


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_a_case_from_songjiang_reaches_the_g60_window(stack: Stack, samples_dir: Path) -> None:
    case = sample(stack, samples_dir, "shanghai", "case", "SC001.xml")  # handled in 苏州 320500 → g60
    client = stack.partner_client("songjiang")
    first = await client.submit("case", case, "m-1")
    again = await client.submit("case", case, "m-2")
    assert again.receipt_no == first.receipt_no
    g60 = stack.sims["g60"].sim.book
    await wait_for(lambda: len(g60.snapshot("case")) == 1)
    got = g60.snapshot("case")[0]
    assert got["record"]["case_no"] == case.case_no
    assert got["record"]["applicant"]["id_number"] == case.applicant.id_number
    await asyncio.sleep(0.2)
    assert len(g60.snapshot("case")) == 1  # the repeat created no second delivery


async def test_status_event_goes_back_to_the_case_origin(stack: Stack, samples_dir: Path) -> None:
    case = sample(stack, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, handled in 宣城 341800 → g60
    await stack.partner_client("ningbo").submit("case", case, "m-3")
    event = sample(stack, samples_dir, "anhui", "status", "SS002.json")
    event = replace(event, case_no=case.case_no, handling_region="341800")
    await stack.partner_client("hefei").submit("status", event, "m-5")
    ningbo = stack.sims["ningbo"].sim.book
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1)
    assert ningbo.snapshot("status")[0]["record"]["seq"] == event.seq


async def test_an_item_the_destination_does_not_offer_is_refused_at_once(stack: Stack, samples_dir: Path) -> None:
    case = sample(stack, samples_dir, "zlb", "case", "SC002.json")
    case = replace(case, item_code="000101017000", item_type="LICENSING")  # 机动车驾驶证补领: not through G60
    with pytest.raises(Refusal) as info:
        await stack.partner_client("ningbo").submit("case", case, "m-6")
    assert info.value.code == "UNKNOWN_ITEM"


async def test_the_g60_hub_reports_status_over_mutual_tls(stack: Stack, samples_dir: Path) -> None:
    """g60.md §1: the hub calls the gateway's /partners/g60/ over mutual TLS with its G60 CA client certificate;
    a status event for a case that came from Ningbo goes back to Ningbo."""
    case = sample(stack, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, handled in 宣城 341800 → g60
    await stack.partner_client("ningbo").submit("case", case, "m-tls-1")
    event = replace(
        sample(stack, samples_dir, "g60", "status", "SS002.xml"), case_no=case.case_no, handling_region="341800"
    )
    tls_url = f"https://127.0.0.1:{stack.config.server.tls_port}"
    await stack.partner_client("g60", tls_url).submit("status", event, "m-tls-2")
    ningbo = stack.sims["ningbo"].sim.book
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1)
    # and the plain listener does not serve the g60 route at all (issue 11 item 12): no client certificate there
    with pytest.raises(ServerError, match="HTTP 404"):
        await stack.partner_client("g60").submit("status", replace(event, seq=event.seq + 1), "m-tls-3")
