"""What a simulated platform received: records by kind, deduplicated by the documented idempotency keys.

README §9: a receiver answers a key it has already accepted with the first receipt and does not compare the
content; a status event whose ``seq`` is lower than one already accepted for the case is refused with
``RULE_VIOLATION`` (§5.2). Tests read the book back through the control endpoint.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import to_ref

from ..wire.base import Accepted, InboundCall

__all__ = ["RecordBook", "idempotency_key"]


def idempotency_key(operation: str, record: Any, message_id: str | None) -> str | None:
    """README §9: case ``case_no``+``version``, status ``case_no``+``seq``, evaluation ``eval_id``; g60 adds
    ``MessageId`` (a repeated MessageId within 7 days gets the first receipt, g60.md §7)."""
    key = getattr(record, "idempotency_key", None)
    return f"{operation}:{key}" if key is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass
class RecordBook:
    """In-memory, per simulator; ``accept`` is what the business side of a simulated platform does."""

    prefix: str
    received: list[dict[str, Any]] = field(default_factory=list)
    receipts: dict[str, str] = field(default_factory=dict)
    by_message_id: dict[str, str] = field(default_factory=dict)
    highest_seq: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def accept(self, call: InboundCall) -> Accepted:
        self.calls += 1
        if call.message_id and call.message_id in self.by_message_id:
            return Accepted(self.by_message_id[call.message_id], repeated=True)
        key = idempotency_key(call.operation, call.record, call.message_id)
        if key is not None and key in self.receipts:
            return Accepted(self.receipts[key], repeated=True)
        if call.operation == "status":
            seen = self.highest_seq.get(call.record.case_no, 0)
            if call.record.seq < seen:
                raise Refusal(C.RULE_VIOLATION, None, "a higher seq was already accepted for this case")
            self.highest_seq[call.record.case_no] = call.record.seq
        receipt = f"{self.prefix}{next(self._numbers):010d}"
        if key is not None:
            self.receipts[key] = receipt
        if call.message_id:
            self.by_message_id[call.message_id] = receipt
        self.received.append({
            "operation": call.operation,
            "caller": call.caller,
            "message_id": call.message_id,
            "receipt": receipt,
            "key": key,
            "record": _jsonable(to_ref(call.record)),
        })
        return Accepted(receipt)

    def snapshot(self, operation: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.received if operation is None or r["operation"] == operation]

    def reset(self) -> None:
        self.received.clear()
        self.receipts.clear()
        self.by_message_id.clear()
        self.highest_seq.clear()
        self.calls = 0
