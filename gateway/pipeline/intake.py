"""Accepting a submission: route it, check each destination can take it, and commit it with its outbox messages.

README §10 step 10 happens here for every destination before anything is written: a destination that does not
carry the record type (``UNSUPPORTED_TYPE``) or does not offer the item (``UNKNOWN_ITEM``, at the sender's item
field) refuses the whole submission, so the sender learns it at once and nothing half-accepted waits in the outbox.

A status event whose ``seq`` is lower than one already accepted for its case is refused ``RULE_VIOLATION`` with
nothing stored (README §5.2), after routing and the destination checks (so it is recorded only when it would be
accepted) and never for a repeat: a repeated (``case_no``, ``seq``) is answered with its first receipt (§9), even
when a higher ``seq`` arrived since. The store's ``record_seq`` raises the case's highest ``seq`` atomically, so of
two events racing, a lower one arriving second is refused on either backend. An event's own ``seq`` recorded by an
attempt that then failed to commit does not refuse its retry (only a strictly lower one is refused).

Then the inbound idempotency record and one outbox message per destination are committed in ONE transaction (the
store groups concurrent commits), and only then is the sender answered. A repeated idempotency key gets the first
receipt and creates nothing (README §9): the store's ``accept`` detects the repeat inside its transaction, so the
common path costs one store round trip. The outbox keeps the canonical record (``canonical_json``): every delivery
attempt renders a fresh envelope and signature.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from gateway.delivery.ordering import order_of
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model import canonical_json
from gateway.observability.context import current_request
from gateway.randomness import random_bytes
from gateway.registry import Registry
from gateway.store.api import IdempotencyRecords, InboundRecord, OutboundMessage
from gateway.translate import route
from gateway.wire.base import Accepted, InboundCall

from .routing import Router, origin_key

__all__ = ["SUBMISSIONS", "Intake"]

#: the operations that are submissions to deliver (licence queries are answered synchronously)
SUBMISSIONS = frozenset({"case", "status", "evaluation"})
RECEIPT_TYPE = "receipt_no"


def new_receipt_no(raw: bytes | None = None) -> str:
    """A gateway receipt number: ``TB`` and 20 random upper-case hex characters (unique, unguessable)."""
    return "TB" + (raw if raw is not None else random_bytes(10))[:10].hex().upper()


def new_ids(count: int) -> tuple[str, list[uuid.UUID]]:
    """A receipt number and ``count`` random (version 4) UUIDs, from one take of OS randomness."""
    raw = random_bytes(10 + 16 * count)
    return new_receipt_no(raw), [uuid.UUID(bytes=raw[10 + 16 * i : 26 + 16 * i], version=4) for i in range(count)]


class Intake:
    """The business handler behind the gateway's inbound endpoints."""

    def __init__(
        self,
        registry: Registry,
        store: IdempotencyRecords,
        router: Router,
        clock: Callable[[], float],
        *,
        on_accepted: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.router = router
        self.clock = clock
        self.on_accepted = on_accepted  # wakes the delivery workers of these destinations

    async def __call__(self, call: InboundCall) -> Accepted:
        """Accept ``call`` (route, check, commit with its outbox messages) and return its receipt."""
        operation = call.operation
        if operation not in SUBMISSIONS:
            raise Refusal(C.UNSUPPORTED_TYPE, None, f"the gateway does not take {operation} here")
        record = call.record
        key = str(record.idempotency_key)
        now = self.clock()
        try:
            destinations, outbound, receipt_no = await self._plan(call, key, now)
        except Refusal:
            # A repeat gets its first receipt (README §9) even if it could not be routed today (a changed
            # configuration); looked up only here, since ``accept`` below detects repeats in its transaction.
            prior = await self.store.get_receipt(operation, key)
            if prior is not None:
                return Accepted(prior.receipt.decode("ascii"), repeated=True, received_at=prior.received_at)
            raise
        if operation == "status":
            prior_receipt = await self._check_seq(call, key)
            if prior_receipt is not None:
                return prior_receipt
        inbound = InboundRecord(operation, key, call.platform, now, receipt_no.encode("ascii"), RECEIPT_TYPE)
        result = await self.store.accept(inbound, outbound)
        if not result.new:
            # the first acceptance time too (one more read, for repeats only): hunan answers it (hunan.md §1)
            first = await self.store.get_receipt(operation, key)
            return Accepted(result.receipt.decode("ascii"), repeated=True,
                            received_at=first.received_at if first is not None else None)
        if self.on_accepted is not None:
            self.on_accepted(destinations)
        return Accepted(receipt_no, received_at=now)

    async def _check_seq(self, call: InboundCall, key: str) -> Accepted | None:
        """README §5.2: refuse a ``seq`` lower than the case's highest accepted one (at the sender's ``seq`` field),
        unless it is a repeat (§9: its first receipt, returned here)."""
        record = call.record
        highest = await self.store.record_seq(record.case_no, record.seq)
        if highest <= record.seq:
            return None
        prior = await self.store.get_receipt(call.operation, key)
        if prior is not None:
            return Accepted(prior.receipt.decode("ascii"), repeated=True)
        sender = self.registry.platforms.get(call.platform)
        mapping = None if sender is None else self.registry.adapter(sender.dialect).mapping(call.operation)
        where = None if mapping is None else mapping.ref_where.get("seq")
        raise Refusal(C.RULE_VIOLATION, where, "a higher seq was already accepted for this case")

    async def _plan(self, call: InboundCall, key: str, now: float) -> tuple[list[str], list[OutboundMessage], str]:
        """The destinations of ``call``, one outbox message for each (every destination checked, §10 step 10), and
        the receipt number. An outbox message's id is its transport message id in another spelling."""
        operation, record, source = call.operation, call.record, call.platform
        origin = None
        if operation == "status":
            origin = await self.store.latest_source("case", origin_key(record.case_no))
        destinations = self.router.destinations(operation, record, source, origin)
        for destination in destinations:
            self._check_destination(source, destination, operation, record)
        payload = canonical_json.dumps(record)
        receipt_no, ids = new_ids(len(destinations))
        ctx = current_request()  # the delivery's log lines carry the submission's request and trace ids
        request_id, traceparent = (ctx.request_id, ctx.traceparent) if ctx is not None else (None, None)
        place = order_of(record)  # a case's events reach each destination in order (README §5.2)
        outbound = [
            OutboundMessage.new(id=mid.hex, destination=destination, kind=operation, idem_key=key,
                                message_id=str(mid), payload=payload, now=now, request_id=request_id,
                                traceparent=traceparent, order_key=place.key, order_seq=place.seq)
            for destination, mid in zip(destinations, ids, strict=True)
        ]
        return destinations, outbound, receipt_no

    def _check_destination(self, source: str, destination: str, operation: str, record: Any) -> None:
        """README §10 step 10 for one destination, placed at the sender's field.

        Only the mapping's tree is built (that is where an item the destination does not offer is refused); the
        bytes are rendered and signed per delivery attempt, so rendering them here would be thrown away.
        """
        path = route(self.registry, source, destination, operation)
        try:
            codes = self.registry.item_codes(path.dst_dialect, record, path.dst_platform)
            path.destination.mapping(operation).encode(record, codes)
        except Refusal as exc:
            where = path.source.mapping(operation).item_where if exc.code is C.UNKNOWN_ITEM else exc.where
            raise Refusal(exc.code, where, exc.detail) from None
