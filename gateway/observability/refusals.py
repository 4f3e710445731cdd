"""Where a refusal happened, and the one place that hears of it: the stage table and the per-request slot.

Why a slot: each dialect answers a refusal in its own form (an anhui envelope, a g60 ``REJECTED`` receipt, a zlb
code, a hunan problem document, a SOAP fault), inside the endpoint, so the partner edge (``gateway.server.edge``)
sees only bytes. Reading the code back out of those bytes would be one parser per dialect and would miss the field
path. Instead the edge binds an empty :class:`RefusalSlot` for the call; the endpoint, where it turns a
``Refusal`` into its answer, calls :func:`note_refusal`; the edge then counts and logs the refusal once. Outside
the gateway's edge (a simulator serving the same endpoint class, a unit test) no slot is bound and
:func:`note_refusal` does nothing.

The stage is a function of the README §10 code (the checks run in the order of the code list), so it never needs
to be passed around: :func:`stage_of`.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from gateway.errors import Refusal, RejectionCode

from .context import Bound

__all__ = [
    "EDGE_CODES",
    "STAGES",
    "NotedRefusal",
    "RefusalSlot",
    "bind_refusal_slot",
    "note_handled",
    "note_refusal",
    "stage_of",
]

C = RejectionCode
#: the edge's own refusals (limits.py): not README §10 codes, answered before any dialect code runs
EDGE_CODES = ("RATE_LIMITED", "REQUEST_TIMEOUT", "NOT_FOUND")  # NOT_FOUND: a mutual-TLS route on the plain listener
STAGES = ("transport", "signature", "replay", "decode", "field_rules", "destination", "consent")
_STAGE: dict[str, str] = {
    "RATE_LIMITED": "transport",
    "REQUEST_TIMEOUT": "transport",
    "NOT_FOUND": "transport",
    C.BODY_TOO_LARGE: "transport",
    C.AUTH_FAILED: "transport",
    C.SIGNATURE_INVALID: "signature",
    C.REPLAYED: "replay",
    C.UNSUPPORTED_TYPE: "decode",
    C.ENCODING_MISMATCH: "decode",
    C.XML_DTD_FORBIDDEN: "decode",
    C.MALFORMED: "decode",
    C.BATCH_TOO_LARGE: "decode",
    C.TOO_MANY_ENTRIES: "decode",
    C.MISSING_FIELD: "field_rules",
    C.BAD_FORMAT: "field_rules",
    C.FIELD_TOO_LONG: "field_rules",
    C.UNKNOWN_CODE: "field_rules",
    C.ID_CHECKSUM: "field_rules",
    C.USCC_CHECKSUM: "field_rules",
    C.LICENCE_ID_CHECKSUM: "field_rules",
    C.RULE_VIOLATION: "field_rules",
    C.UNKNOWN_ITEM: "destination",
    C.UNKNOWN_REGION: "destination",
    C.CONSENT_INVALID: "consent",
}
if set(_STAGE) != {*EDGE_CODES, *(c.value for c in C)}:  # pragma: no cover - an import-time table check
    raise RuntimeError("refusals._STAGE must name every RejectionCode exactly once")


def stage_of(code: str) -> str:
    """The stage a refusal with ``code`` happened at (``decode`` for a code this table does not know)."""
    return _STAGE.get(code, "decode")


@dataclass(frozen=True, slots=True)
class NotedRefusal:
    """What may be logged of a refusal: its code, stage and field path; never the value or the detail text."""

    code: str
    where: str | None

    @property
    def stage(self) -> str:
        return stage_of(self.code)


@dataclass(slots=True)
class RefusalSlot:
    """Filled during one partner call: the refusals noted and whether the business handler counted the call."""

    refusals: list[NotedRefusal] = field(default_factory=list)
    handled: bool = False


_SLOT: contextvars.ContextVar[RefusalSlot | None] = contextvars.ContextVar("tongban_refusal_slot", default=None)


def bind_refusal_slot() -> Bound[RefusalSlot]:
    """Bind a fresh slot for the ``with`` block (the edge, around one partner call)."""
    return Bound(_SLOT, RefusalSlot())


def note_refusal(rejection: Refusal) -> None:
    """Tell the edge that this call is answered with ``rejection`` (a no-op where no edge listens)."""
    slot = _SLOT.get()
    if slot is not None:
        slot.refusals.append(NotedRefusal(rejection.code.value, rejection.where))


def note_handled() -> None:
    """Tell the edge that the business handler already counted this call in ``tongban_requests_total``."""
    slot = _SLOT.get()
    if slot is not None:
        slot.handled = True
