"""The exact signed payload of a message's last attempt, from the message log, masked like the canonical record.

Why the message log and not the outbox: the outbox keeps the canonical record, and every attempt renders and signs
a fresh request from it (new timestamps, nonces, signatures), so what the partner actually received is only in the
log's outbound entry (:class:`gateway.evidence.RecordingTransport`: direction ``out``, the message's id). The log
is searched by the message's case number (the indexed clear field), the entry decrypted with the log's at-rest
keys, and the body masked with the canonical record's personal values known, so a name that recurs inside a
signed XML or JSON body is masked too. The evidence (signature headers) is shown as it travelled: it holds no
personal data (:class:`gateway.msglog.api.NewEntry`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from gateway.msglog.api import MessageLog
from gateway.msglog.atrest import AtRestKeys
from gateway.observability.masking import mask_text, personal_values
from gateway.store.api import OutboundMessage

__all__ = ["CASE_KINDS", "SignedPayload", "case_no_of", "last_signed_payload"]

CASE_KINDS: Final = frozenset({"case", "status"})  # idempotency keys case_no:version and case_no:seq (README §9)
_XML_ENCODING: Final = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True, slots=True)
class SignedPayload:
    """The last outbound entry of a message: when it was sent, its log seq, operation and the masked body."""

    seq: int
    at: float
    operation: str
    body: str


def case_no_of(message: OutboundMessage) -> str | None:
    """The case number of a case or status message (its idempotency key less the version or seq)."""
    return message.idem_key.rsplit(":", 1)[0] if message.kind in CASE_KINDS else None


def _decode(body: bytes) -> str:
    m = _XML_ENCODING.match(body[:200])
    encoding = m.group(1).decode("ascii") if m else "utf-8"
    try:
        return body.decode(encoding, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


async def last_signed_payload(msglog: MessageLog, keys: AtRestKeys, message: OutboundMessage) -> SignedPayload | None:
    """The masked body of ``message``'s last outbound entry, or None when the log has none (no case number,
    nothing sent yet, or purged by retention)."""
    case_no = case_no_of(message)
    if case_no is None:
        return None
    entries = await msglog.search(case_no=case_no, keys=keys, limit=5000)
    sent = [e for e in entries if e.direction == "out" and e.message_id == message.message_id]
    body = sent[-1].message if sent else None
    if body is None:
        return None
    known = personal_values(json.loads(message.payload))
    return SignedPayload(sent[-1].seq, sent[-1].at, sent[-1].operation, mask_text(_decode(body), known=known))
