"""Outbound message-log entries are named by what each client passes to ``Transport.send``, not by ambient state.

Two deliveries to different platforms (a case to the g60 hub, an evaluation to hefei) run at the same time through
one recording transport; each logged request and answer must name its own platform, record type, message id and
case number, with the message id and idempotency key of its own outbox row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pipeline_stack import Stack, sample, start_stack, wait_for, wait_for_async

from gateway.server.keys import MSGLOG


@pytest.fixture
async def logged_stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    built = await start_stack(
        dev_folder,
        f"sqlite:///{tmp_path / 'gw.db'}",
        extra={"message_log": {"url": f"sqlite:///{tmp_path / 'msglog.db'}"}},
    )
    try:
        yield built
    finally:
        await built.close()


async def test_concurrent_deliveries_are_logged_with_their_own_names(logged_stack: Stack, samples_dir: Path) -> None:
    stack = logged_stack
    case = sample(stack.config, samples_dir, "shanghai", "case", "SC001.xml")  # handled in 苏州 320500 → g60
    evaluation = sample(stack.config, samples_dir, "zlb", "evaluation", "SE005.json")  # region 340100 → hefei
    assert case.case_no != evaluation.case_no
    await asyncio.gather(
        stack.partner_client("songjiang").submit("case", case, "m-ev-1"),
        stack.partner_client("ningbo").submit("evaluation", evaluation, "m-ev-2"),
    )
    g60, hefei = stack.book("g60"), stack.book("hefei")
    await wait_for(lambda: g60.snapshot("case") and hefei.snapshot("evaluation"), what="both deliveries")
    log = stack.app[MSGLOG]

    async def both_answers_logged() -> bool:
        # a simulator books the record before its answer reaches the gateway, which logs the answer after that
        found = [await log.search(case_no=r.case_no) for r in (case, evaluation)]
        return all(any(e.direction == "in" and e.platform == d for e in entries)
                   for entries, d in zip(found, ("g60", "hefei"), strict=True))  # fmt: skip

    await wait_for_async(both_answers_logged, what="both answers logged")
    await log.seal(time.time())
    for record, source, destination, record_type in (
        (case, "songjiang", "g60", "case"),
        (evaluation, "ningbo", "hefei", "evaluation"),
    ):
        entries = [e for e in await log.search(case_no=record.case_no) if e.platform != source]
        sent = [e for e in entries if e.direction == "out"]
        answers = [e for e in entries if e.direction == "in"]
        assert sent and answers, (destination, entries)
        # every entry about this record names the destination and the record, never the other delivery's
        assert {e.platform for e in entries} == {destination}
        assert {e.record_type for e in entries} == {record_type}
        assert {e.operation for e in sent} == {f"{record_type}:POST"}
        assert {e.operation for e in answers} == {f"{record_type}:answer"}
        # the request and its answer share the delivery's message id and idempotency key, those of its outbox row
        [queued] = await stack.store.list_messages(destination=destination)
        assert queued.kind == record_type
        assert {e.message_id for e in entries} == {queued.message_id}
        assert {e.idem_key for e in sent} == {queued.idem_key}
    ids = {e.message_id for e in await log.search(case_no=case.case_no) if e.platform == "g60"}
    assert ids.isdisjoint({e.message_id for e in await log.search(case_no=evaluation.case_no)})
