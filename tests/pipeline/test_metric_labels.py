"""Ordinary traffic writes no label outside the allow-lists: tongban_metric_label_rejections_total stays 0.

Real gateway and simulators; the demo's stream (cases from every partner, a repeat, a refused ID number, status
events, a 差评, an answered licence query), plus a dead letter (a status the destination refuses) and a licence
query the issuer refuses. Before the fix, each dead letter was written as outcome "other" and each answered licence
query as outcome "other", each with a label rejection, and TongbanMetricLabelRejected fired on ordinary traffic.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from pipeline_stack import Stack, sample, wait_for, wait_for_async
from prometheus_client.parser import text_string_to_metric_families
from test_licences import consent, hefei_library

from gateway.demo import _Demo
from gateway.errors import Refusal
from gateway.model.identifiers import mod37_36
from gateway.model.records import LicenceQuery
from gateway.store.api import DEAD, PENDING

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


async def _dead_letter(stack: Stack, samples_dir: Path) -> None:
    """A status event with a lower sequence than ningbo already holds: ningbo refuses it for good."""
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")
    await stack.partner_client("ningbo").submit("case", case, "m-case")
    event = sample(stack.config, samples_dir, "anhui", "status", "SS002.json")
    event = replace(event, case_no=case.case_no, handling_region="341800", seq=5)
    hefei = stack.partner_client("hefei")
    await hefei.submit("status", event, "m-seq5")

    ningbo = stack.book("ningbo")
    # ningbo's own book, not the outbox: a message being delivered is no longer pending, yet not received
    await wait_for(
        lambda: any(str(r["key"]).endswith(f"{case.case_no}:5") for r in ningbo.snapshot("status")),
        what="seq 5 received by ningbo",
    )
    # ningbo saw seq 9 through its own window: the gateway takes seq 6 (higher than any it accepted; a lower one is
    # refused at intake), and ningbo refuses it for good (README §5.2)
    ningbo.highest_seq[case.case_no] = 9
    await hefei.submit("status", replace(event, seq=6), "m-seq6")


async def _refused_licence_query(stack: Stack) -> None:
    library = hefei_library(stack)
    licence, _ = library.get(library.identifiers()[3])
    parts = licence.identifier.split(".")
    parts[7] = "999999999999"
    parts[9] = mod37_36((parts[5] + parts[6] + parts[7] + parts[8]).upper())
    with pytest.raises(Refusal):
        await stack.partner_client("ningbo").query_licence(
            LicenceQuery(".".join(parts), "核验", consent(stack, replace(licence, identifier=".".join(parts)))), "q"
        )


async def test_ordinary_traffic_rejects_no_label(stack: Stack, samples_dir: Path) -> None:
    demo = _Demo(stack.config, io.StringIO())
    demo.gateway_url = stack.gateway_url
    try:
        await demo.stream()
    finally:
        await demo.transport.close()
    await _dead_letter(stack, samples_dir)
    await _refused_licence_query(stack)

    async def settled() -> bool:
        return not await stack.store.list_messages(state=PENDING) and bool(await stack.store.list_messages(state=DEAD))

    await wait_for_async(settled, timeout=30.0, what="every message delivered or dead")
    scraped = await _scrape(stack.gateway_url)

    rejected = {
        labels: v for (name, labels), v in scraped.items() if name == "tongban_metric_label_rejections_total" and v
    }
    assert rejected == {}
    assert not any(
        ("outcome", "other") in labels or ("code", "other") in labels or ("platform", "other") in labels
        for (_, labels), v in scraped.items()
        if v
    )
    assert scraped[("tongban_delivery_attempts_total", (("destination", "ningbo"), ("outcome", "dead")))] == 1
    assert scraped[("tongban_dead_letters_total", (("code", "RULE_VIOLATION"), ("destination", "ningbo")))] == 1
    assert scraped[("tongban_licence_queries_total", (("outcome", "found"), ("platform", "ningbo")))] == 1
    assert scraped[("tongban_licence_queries_total", (("outcome", "UNKNOWN_CODE"), ("platform", "ningbo")))] == 1
    assert (
        scraped[
            ("tongban_refusals_total", (("code", "ID_CHECKSUM"), ("platform", "changsha"), ("stage", "field_rules")))
        ]
        == 1
    )
    delivered = scraped[("tongban_delivery_attempts_total", (("destination", "ningbo"), ("outcome", "delivered")))]
    assert scraped[("tongban_delivery_latency_seconds_count", (("destination", "ningbo"),))] == delivered > 0
    assert scraped[("tongban_bad_reviews_total", (("region", "340400"),))] == 1
