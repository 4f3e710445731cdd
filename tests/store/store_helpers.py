"""Record builders shared by the store tests (a module name unique across the test tree)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gateway.store import InboundRecord, OutboundMessage, Store, open_store


@dataclass
class Backend:
    """How to open (more) store objects on the same database as the test's ``store``."""

    name: str
    url: str
    opened: list[Store]

    async def open(self) -> Store:
        store = await open_store(self.url)
        self.opened.append(store)
        return store


T0 = 1_750_000_000.0


def inbound(key: str = "3205002405030562129:4", kind: str = "case", receipt: bytes = b"R1") -> InboundRecord:
    return InboundRecord(
        kind=kind, key=key, source="hefei", received_at=T0, receipt=receipt, receipt_type="application/json"
    )


def message(
    id: str | None = None,
    destination: str = "ningbo",
    idem_key: str = "3205002405030562129:4",
    now: float = T0,
    payload: bytes = b'{"case":1}',
) -> OutboundMessage:
    return OutboundMessage.new(
        id=id or uuid.uuid4().hex,
        destination=destination,
        kind="case",
        idem_key=idem_key,
        message_id=f"msg-{uuid.uuid4().hex[:12]}",
        payload=payload,
        now=now,
    )


async def queue(store: Store, *destinations: str, now: float = T0) -> list[OutboundMessage]:
    """Accept one inbound record per destination and return the queued messages."""
    out = []
    for i, destination in enumerate(destinations):
        m = message(destination=destination, idem_key=f"K{i}", now=now + i)
        await store.accept(inbound(key=f"K{i}:{uuid.uuid4().hex}"), [m])
        out.append(m)
    return out
