"""Every refusal a partner gets is one count in ``tongban_refusals_total`` and one JSON log line, at any stage.

Real gateway, real simulators, real signed calls from the partner's side of the link: a decode-stage refusal
(``ID_CHECKSUM`` in a correctly signed body), an authentication refusal (no TIF headers) and a replay.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pipeline_stack import Stack, sample, start_stack, wait_for, wait_for_async
from prometheus_client.parser import text_string_to_metric_families

from adapters.anhui import scheme as w
from adapters.anhui.roles import Client as AnhuiClient
from gateway.delivery import Throttled
from gateway.observability.logging import JsonFormatter
from gateway.store.api import DELIVERED

ID_IN_BAD_SAMPLE = "340104197002058111"  # APPLY_CARDNUMBER of the bad sample


@pytest.fixture
async def refusal_stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    built = await start_stack(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}")
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway.refusals")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


async def _post_signed(stack: Stack, body: bytes) -> tuple[int, bytes, dict[str, str]]:
    """``body`` as hefei sends it to the gateway: TIF headers and a JWS over exactly these bytes (anhui.md §2-§3)."""
    client = stack.partner_client("hefei")
    assert isinstance(client, AnhuiClient)
    request = client._signed("POST", w.PATHS["case"], body)
    async with (
        aiohttp.ClientSession() as session,
        session.post(request.url, data=request.body, headers=request.headers) as resp,
    ):
        return resp.status, await resp.read(), dict(request.headers)


def _refusal_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if line["logger"] == "gateway.refusals"]


async def test_decode_auth_and_replay_refusals_are_counted_and_logged_once(
    refusal_stack: Stack, samples_dir: Path, json_log: io.StringIO
) -> None:
    stack = refusal_stack
    bad = (samples_dir / "bad" / "anhui-case-id-checksum.json").read_bytes()
    before = await _scrape(stack.gateway_url)
    key = ("tongban_refusals_total", (("code", "ID_CHECKSUM"), ("platform", "hefei"), ("stage", "field_rules")))
    assert before[key] == 0  # present from the start, so increase() sees the first refusal

    _, answer, headers = await _post_signed(stack, bad)
    assert b"ID_CHECKSUM" in answer
    async with aiohttp.ClientSession() as session:  # the same signed call again: its nonce is spent
        async with session.post(
            stack.gateway_url + "/partners/hefei" + w.PATHS["case"], data=bad, headers=headers
        ) as resp:
            assert b"REPLAYED" in await resp.read()
        async with session.post(
            stack.gateway_url + "/partners/hefei" + w.PATHS["case"],
            data=bad,
            headers={"Content-Type": "application/json;charset=UTF-8"},
        ) as resp:
            assert resp.status == 401  # no TIF headers (anhui.md §2)

    after = await _scrape(stack.gateway_url)
    assert after[key] == 1
    assert after[("tongban_refusals_total", (("code", "REPLAYED"), ("platform", "hefei"), ("stage", "replay")))] == 1
    assert (
        after[("tongban_refusals_total", (("code", "AUTH_FAILED"), ("platform", "hefei"), ("stage", "transport")))] == 1
    )
    assert after[("tongban_auth_refusals_total", (("code", "AUTH_FAILED"), ("platform", "hefei")))] == 1
    assert after[("tongban_translation_refusals_total", (("code", "ID_CHECKSUM"), ("dialect", "anhui")))] == 1
    assert (
        after[
            ("tongban_requests_total", (("operation", "unverified"), ("outcome", "ID_CHECKSUM"), ("platform", "hefei")))
        ]
        == 1
    )
    assert sum(v for (name, _), v in after.items() if name == "tongban_refusals_total") == 3
    assert not any(v for (name, _), v in after.items() if name == "tongban_metric_label_rejections_total")

    lines = _refusal_lines(json_log)
    assert [(x["code"], x["stage"]) for x in lines] == [
        ("ID_CHECKSUM", "field_rules"),
        ("REPLAYED", "replay"),
        ("AUTH_FAILED", "transport"),
    ]
    first = lines[0]
    assert first["platform"] == "hefei" and first["level"] == "WARNING"
    assert first["field"]  # the field path the adapter named
    assert len(first["request_id"]) >= 16
    assert len({x["request_id"] for x in lines}) == 3  # one line per call
    assert ID_IN_BAD_SAMPLE not in json_log.getvalue()


async def test_a_refused_business_call_is_counted_once(
    refusal_stack: Stack, samples_dir: Path, json_log: io.StringIO
) -> None:
    """A call the business handler refuses (routing: hefei's own region) is counted under its operation, once."""
    stack = refusal_stack
    own = (samples_dir / "anhui" / "case" / "SC001.json").read_text(encoding="utf-8")
    own = own.replace('"REGION_ID": "320500"', '"REGION_ID": "340100"')  # Hefei: the sender handles it itself
    _, answer, _ = await _post_signed(stack, own.encode("utf-8"))
    assert b"RULE_VIOLATION" in answer
    after = await _scrape(stack.gateway_url)
    refused = {labels: v for (name, labels), v in after.items() if name == "tongban_refusals_total" and v}
    assert refused == {(("code", "RULE_VIOLATION"), ("platform", "hefei"), ("stage", "field_rules")): 1}
    counted = {labels: v for (name, labels), v in after.items() if name == "tongban_requests_total" and v}
    assert counted == {(("operation", "case"), ("outcome", "RULE_VIOLATION"), ("platform", "hefei")): 1}
    assert [x["code"] for x in _refusal_lines(json_log)] == ["RULE_VIOLATION"]


async def test_delivery_log_lines_carry_the_submissions_request_and_trace_ids(
    refusal_stack: Stack, samples_dir: Path
) -> None:
    stack = refusal_stack
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gateway.operations")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")  # from ningbo to the g60 hub
        await stack.partner_client("ningbo").submit("case", case, "m-trace")

        async def delivered() -> bool:
            return bool(await stack.store.list_messages(state=DELIVERED))

        await wait_for_async(delivered, what="the case delivered")
        await wait_for(lambda: "delivery of case" in stream.getvalue(), what="the delivery's log line")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    [message] = await stack.store.list_messages(state=DELIVERED)
    assert message.request_id and message.traceparent  # bound by the trace middleware at intake
    [line] = [x for x in map(json.loads, stream.getvalue().splitlines()) if x["message"].startswith("delivery of")]
    assert line["request_id"] == message.request_id
    assert line["trace_id"] == message.traceparent.split("-")[1]
    assert line["outbox_id"] == message.id


async def test_refusals_of_the_gateways_own_api_are_counted_and_logged(
    refusal_stack: Stack, json_log: io.StringIO
) -> None:
    stack = refusal_stack
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.gateway_url}/v1/translate?from=hefei", data=b"{}", headers={"X-Request-Id": "op-check-7"}
        ) as resp,
    ):
        assert resp.status == 422
        assert (await resp.json())["code"] == "MISSING_FIELD"
    after = await _scrape(stack.gateway_url)
    assert (
        after[("tongban_refusals_total", (("code", "MISSING_FIELD"), ("platform", "api"), ("stage", "field_rules")))]
        == 1
    )
    assert not any(v for (name, _), v in after.items() if name == "tongban_metric_label_rejections_total")
    [line] = _refusal_lines(json_log)
    assert (line["platform"], line["code"], line["field"], line["request_id"]) == (
        "api",
        "MISSING_FIELD",
        "to",
        "op-check-7",
    )


async def test_rate_refusals_are_counted_without_a_label_rejection(
    dev_folder: Path, tmp_path: Path, samples_dir: Path, json_log: io.StringIO
) -> None:
    stack = await start_stack(
        dev_folder, f"sqlite:///{tmp_path / 'slow.db'}", extra={"platforms": {"songjiang": {"rate_limit": 1}}}
    )
    try:
        case = sample(stack.config, samples_dir, "shanghai", "case", "SC001.xml")
        client = stack.partner_client("songjiang")
        await client.submit("case", case, "m-1")
        with pytest.raises(Throttled):
            await client.submit("case", case, "m-2")
        after = await _scrape(stack.gateway_url)
    finally:
        await stack.close()
    assert (
        after[("tongban_refusals_total", (("code", "RATE_LIMITED"), ("platform", "songjiang"), ("stage", "transport")))]
        == 1
    )
    assert (
        after[
            (
                "tongban_requests_total",
                (("operation", "unverified"), ("outcome", "RATE_LIMITED"), ("platform", "songjiang")),
            )
        ]
        == 1
    )
    assert not any(v for (name, _), v in after.items() if name == "tongban_metric_label_rejections_total")
    assert [x["code"] for x in _refusal_lines(json_log)] == ["RATE_LIMITED"]
