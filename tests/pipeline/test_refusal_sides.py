"""Issue 13 item 4: a dead letter says who refused the message.

A receipted message that the destination refuses is dead-lettered with the destination's code and "refused by the
destination"; one that the gateway's own encoder cannot write for the destination is dead-lettered with the code
and "refused by the gateway", and nothing is sent. Before the one refusal type, both read "refused by the
destination" (the hefei + huainan case of issue 13).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline_stack import Stack, StackFactory, sample, wait_for, wait_for_async

from gateway.delivery import REFUSED_BY
from gateway.errors import Side
from gateway.model import canonical_json
from gateway.store.api import DEAD, InboundRecord, OutboundMessage


async def _dead_letter(stack: Stack, destination: str) -> Any:
    found: list[Any] = []

    async def dead() -> bool:
        found[:] = await stack.store.list_messages(state=DEAD, destination=destination)
        return bool(found)

    await wait_for_async(dead, what=f"a dead letter for {destination}")
    return found[0]


async def test_a_receipted_message_the_destination_refuses_is_dead_lettered_as_the_peers_refusal(
    stack: Stack, samples_dir: Path
) -> None:
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")  # from ningbo, 宣城 341800 → g60
    await stack.partner_client("ningbo").submit("case", case, "m-case")
    event = sample(stack.config, samples_dir, "anhui", "status", "SS002.json")
    event = replace(event, case_no=case.case_no, handling_region="341800", seq=5)
    hefei = stack.partner_client("hefei")
    await hefei.submit("status", event, "m-seq5")
    ningbo = stack.book("ningbo")
    await wait_for(lambda: len(ningbo.snapshot("status")) == 1, what="seq 5 delivered")

    ningbo.highest_seq[case.case_no] = 9  # ningbo took seq 9 elsewhere: it refuses seq 6 (README §5.2)
    receipt = await hefei.submit("status", replace(event, seq=6), "m-seq6")
    assert receipt.receipt_no  # the gateway took it: the refusal comes later, from the destination
    dead = await _dead_letter(stack, "ningbo")
    assert dead.last_error_code == "RULE_VIOLATION"
    assert dead.last_error.startswith(REFUSED_BY[Side.PEER])
    assert dead.last_error.startswith("refused by the destination")
    assert dead.attempts == 1  # a refusal is never retried


async def test_a_copy_the_gateways_own_encoder_cannot_write_is_dead_lettered_as_ours_and_never_sent(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    """000109021000 has a Hefei code and no Huainan code. Intake now refuses such a case (test_routing.py); a copy
    already in the outbox (queued before the crosswalk changed, say) still meets the huainan encoder, which refuses
    it: the gateway refused it, not huainan, and huainan is never called."""
    stack = await make_stack(
        store_url, extra={"routes": [{"record_types": ["case"], "regions": ["340100"], "destinations": ["huainan"]}]}
    )
    case = sample(stack.config, samples_dir, "zlb", "case", "SC002.json")
    case = replace(case, item_code="000109021000", item_type="PUBLIC_SERVICE", handling_region="340100")
    now = time.time()
    key = f"{case.case_no}:{case.version}"
    copy = OutboundMessage(
        id="hh-1",
        destination="huainan",
        kind="case",
        idem_key=key,
        message_id="m-hh-1",
        payload=canonical_json.dumps(case),
        created_at=now,
        next_attempt_at=now,
    )
    await stack.store.accept(InboundRecord("case", key, "ningbo", now, b"receipt", "receipt_no"), [copy])
    stack.worker.kick(["huainan"])
    dead = await _dead_letter(stack, "huainan")
    assert dead.last_error_code == "UNKNOWN_ITEM"
    assert dead.last_error.startswith(REFUSED_BY[Side.OURS])
    assert "destination" not in dead.last_error
    assert stack.book("huainan").calls == 0
