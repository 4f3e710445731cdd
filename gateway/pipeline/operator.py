"""What operators do with the outbox (the admin API and ``gateway outbox`` share these): list, show, retry, discard.

``show`` masks personal data in the record (``gateway.observability.masking``: personal fields by name, and their
values wherever else they recur, e.g. an applicant's name inside ``project_name``); ``retry`` puts a dead letter
back with its idempotency key and message id unchanged, so the destination recognises a repeat (README §9).

Ordering (README §5.2): a dead message of a case holds back the later messages of that case to its destination
(``gateway.store.transitions``), so ``show`` lists them under ``blocked`` (those behind a message that is not dead
yet are ``waiting``). ``retry`` replays the dead message with a fresh schedule together with the dead messages
behind it, and the store then delivers the chain in order; ``discard`` lets the chain go on without it.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.observability.masking import mask_mapping, mask_text
from gateway.store.api import DEAD, OutboundMessage, Outbox

__all__ = ["discard", "list_summaries", "retry", "show", "summary"]


def summary(message: OutboundMessage) -> dict[str, Any]:
    """What an operator sees of a message in a list: envelope and outcome, never the record."""
    return {
        "id": message.id,
        "destination": message.destination,
        "kind": message.kind,
        "idempotency_key": message.idem_key,
        "message_id": message.message_id,
        "state": message.state,
        "attempts": message.attempts,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
        "last_error_code": message.last_error_code,
        "last_error": message.last_error,
        "delivered_at": message.delivered_at,
    }


async def list_summaries(
    store: Outbox, *, state: str | None = None, destination: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Summaries of the outbox, oldest first, filtered by state and destination."""
    return [summary(m) for m in await store.list_messages(state, destination, limit, offset)]


async def show(store: Outbox, message_id: str) -> dict[str, Any] | None:
    """One message with its record, personal data masked; None when there is no such message."""
    message = await store.get_message(message_id)
    if message is None:
        return None
    out = summary(message)
    if message.order_key is not None:
        later = await store.followers(message.id)
        out["order"] = {"key": message.order_key, "position": message.order_seq}
        out["blocked" if message.state == DEAD else "waiting"] = [summary(m) for m in later]
    out["record"] = mask_mapping(json.loads(message.payload))
    if message.delivery_receipt is not None:
        out["receipt"] = mask_text(message.delivery_receipt.decode("utf-8", "replace"))
    return out


async def retry(store: Outbox, message_id: str, now: float) -> bool:
    """Put a dead letter back with a fresh schedule (due ``now``, full retries, a new ``max_age``), keeping its
    idempotency key and message id, and with it the dead letters behind it in its case's order; False if not dead.
    """
    message = await store.get_message(message_id)
    if message is None or message.state != DEAD or not await store.retry_dead(message_id, now):
        return False
    if message.order_key is not None:
        for later in await store.followers(message_id):
            if later.state == DEAD:
                await store.retry_dead(later.id, now)
    return True


async def discard(store: Outbox, message_id: str) -> bool:
    """Delete a dead letter for good; False if the message is not a dead letter."""
    return await store.discard(message_id)
