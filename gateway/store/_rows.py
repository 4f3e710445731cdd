"""Row <-> record conversion shared by both backends (the column order lives here only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .api import DEAD, DELIVERING, PENDING, DestinationStats, InboundRecord, OperatorAccount, OutboundMessage

__all__ = [
    "INBOUND_COLUMNS",
    "OUTBOX_COLUMNS",
    "check_new_outbound",
    "inbound_from_row",
    "message_from_row",
    "message_values",
    "operator_from_row",
    "stats_from_rows",
]

OUTBOX_COLUMNS: Final = (
    "id",
    "destination",
    "kind",
    "idem_key",
    "message_id",
    "payload",
    "created_at",
    "next_attempt_at",
    "attempts",
    "state",
    "last_error_code",
    "last_error",
    "lease_owner",
    "lease_until",
    "delivered_at",
    "delivery_receipt",
    "request_id",
    "traceparent",
    "order_key",
    "order_seq",
    "schedule_start",
)
INBOUND_COLUMNS: Final = ("kind", "idem_key", "source", "received_at", "receipt", "receipt_type")


def message_from_row(row: Mapping[str, Any]) -> OutboundMessage:
    """An :class:`OutboundMessage` from a row holding every column of ``OUTBOX_COLUMNS``."""
    receipt = row["delivery_receipt"]
    return OutboundMessage(
        id=row["id"],
        destination=row["destination"],
        kind=row["kind"],
        idem_key=row["idem_key"],
        message_id=row["message_id"],
        payload=bytes(row["payload"]),
        created_at=float(row["created_at"]),
        next_attempt_at=float(row["next_attempt_at"]),
        attempts=int(row["attempts"]),
        state=row["state"],
        last_error_code=row["last_error_code"],
        last_error=row["last_error"],
        lease_owner=row["lease_owner"],
        lease_until=None if row["lease_until"] is None else float(row["lease_until"]),
        delivered_at=None if row["delivered_at"] is None else float(row["delivered_at"]),
        delivery_receipt=None if receipt is None else bytes(receipt),
        request_id=row["request_id"],
        traceparent=row["traceparent"],
        order_key=row["order_key"],
        order_seq=int(row["order_seq"]),
        schedule_start=None if row["schedule_start"] is None else float(row["schedule_start"]),
    )


def message_values(message: OutboundMessage) -> tuple[Any, ...]:
    """The column values of ``message`` in ``OUTBOX_COLUMNS`` order."""
    return tuple(getattr(message, column) for column in OUTBOX_COLUMNS)


def inbound_from_row(row: Mapping[str, Any]) -> InboundRecord:
    """An :class:`InboundRecord` from a row of the ``inbound`` table."""
    return InboundRecord(
        kind=row["kind"],
        key=row["idem_key"],
        source=row["source"],
        received_at=float(row["received_at"]),
        receipt=bytes(row["receipt"]),
        receipt_type=row["receipt_type"],
    )


def operator_from_row(row: Mapping[str, Any]) -> OperatorAccount:
    """An :class:`OperatorAccount` from a ``console_operators`` row (``single_use`` is stored as 0 or 1)."""
    values = (row["name"], row["role"], row["password_hash"], float(row["created_at"]), bool(row["single_use"]))
    return OperatorAccount(*values)


def check_new_outbound(outbound: Sequence[OutboundMessage]) -> None:
    """Refuse outbound messages that are not fresh: ``accept`` only queues pending, unleased work."""
    seen: set[str] = set()
    for message in outbound:
        if message.state != PENDING or message.lease_owner is not None or message.lease_until is not None:
            raise ValueError(f"accept() takes pending, unleased messages only (message {message.id!r})")
        if message.id in seen:
            raise ValueError(f"accept() got message id {message.id!r} twice")
        seen.add(message.id)


def stats_from_rows(rows: Sequence[Mapping[str, Any]], now: float) -> dict[str, DestinationStats]:
    """Fold ``(destination, state, n, oldest_created)`` group rows into per-destination stats."""
    counts: dict[str, dict[str, int]] = {}
    oldest: dict[str, float] = {}
    for row in rows:
        destination, state = row["destination"], row["state"]
        counts.setdefault(destination, {})[state] = int(row["n"])
        if state in (PENDING, DELIVERING) and row["oldest"] is not None:
            created = float(row["oldest"])
            oldest[destination] = min(created, oldest.get(destination, created))
    return {
        destination: DestinationStats(
            destination=destination,
            pending=by_state.get(PENDING, 0),
            delivering=by_state.get(DELIVERING, 0),
            dead=by_state.get(DEAD, 0),
            oldest_pending_age=(max(0.0, now - oldest[destination]) if destination in oldest else None),
        )
        for destination, by_state in sorted(counts.items())
    }
