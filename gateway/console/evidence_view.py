"""What an operator reads in a message-log entry's evidence: the signature scheme, the key id and what was verified.

Pure: it reads the evidence headers the log kept as they travelled (each dialect's ``Dialect.evidence_headers``)
through the dialect's own ``Dialect.describe_evidence`` (the console names no scheme or header), and never verifies
anything again (the wire scheme did, before the entry was written).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.dialects import EvidenceDescriber

__all__ = ["EvidenceView", "describe"]


@dataclass(frozen=True, slots=True)
class EvidenceView:
    scheme: str
    key_id: str
    result: str  # an i18n key: verified_on_receipt, signed_by_gateway, answer_received


def describe(
    direction: str, operation: str, evidence: Mapping[str, str], describer: EvidenceDescriber | None
) -> EvidenceView:
    """What an entry's evidence says; ``describer`` is the dialect's (``Dialect.describe_evidence``) of the platform
    the entry names, None for the console's own entries and platforms no longer configured."""
    scheme, key_id = ("-", "-") if describer is None else describer(evidence)
    if direction == "out":
        result = "signed_by_gateway"
    elif operation.endswith(":answer"):
        result = "answer_received"
    else:
        result = "verified_on_receipt"
    if operation.startswith("console."):
        scheme, key_id, result = "-", "-", "operator_action"
    return EvidenceView(scheme, key_id, result)
