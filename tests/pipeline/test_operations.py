"""What operators see of a real exchange: metrics, readiness, and the message log with its evidence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pipeline_stack import Stack, start_stack

from gateway.server.keys import MSGLOG


@pytest.fixture
async def ops_stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    built = await start_stack(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}",
                              extra={"message_log": {"url": f"sqlite:///{tmp_path / 'msglog.db'}"}})
    try:
        yield built
    finally:
        await built.close()


def sample(stack: Stack, samples_dir: Path, dialect: str, record_type: str, name: str) -> Any:
    body = (samples_dir / dialect / record_type / name).read_bytes()
    return stack.config.registry.adapter(dialect).decode(record_type, body)


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_readiness_and_the_message_log(ops_stack: Stack, samples_dir: Path, tmp_path: Path) -> None:
    stack = ops_stack
    case = sample(stack, samples_dir, "shanghai", "case", "SC001.xml")
    await stack.partner_client("songjiang").submit("case", case, "m-ops-1")
    evaluation = sample(stack, samples_dir, "zlb", "evaluation", "SE005.json")  # 差评, region 340100 → hefei
    await stack.partner_client("ningbo").submit("evaluation", evaluation, "m-ops-2")
    g60 = stack.sims["g60"].sim.book
    for _ in range(200):
        if g60.snapshot("case"):
            break
        await asyncio.sleep(0.02)

    status, text = await _get(f"{stack.gateway_url}/metrics")
    assert status == 200
    assert 'tongban_requests_total{operation="case",outcome="accepted",platform="songjiang"} 1.0' in text
    assert "tongban_bad_reviews_total" in text
    assert case.applicant.id_number not in text and case.case_no not in text  # no personal data, no case numbers
    status, text = await _get(f"{stack.gateway_url}/readyz")
    assert status == 200, text

    log = stack.app[MSGLOG]
    await log.seal(0.0 + __import__("time").time())
    report = await log.verify()
    assert report.ok, report
    found = await log.search(case_no=case.case_no)
    directions = {(e.direction, e.platform) for e in found}
    assert ("in", "songjiang") in directions  # the submission as received
    assert ("out", "g60") in directions  # the delivery as sent
    data = (tmp_path / "msglog.db").read_bytes()
    assert case.applicant.id_number.encode() not in data
    assert evaluation.applicant.id_number.encode() not in data
