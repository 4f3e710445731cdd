"""What an operator reads in a message-log entry's evidence: the signature scheme, the key id and what was verified.

Pure: it reads the evidence headers the log kept as they travelled (each dialect's ``Dialect.evidence_headers``)
and never verifies anything again (the wire scheme did, before the entry was written). A JWS's protected header is
decoded only to show its ``alg`` and ``kid``. The XML dialects carry their signature inside the logged body, so
their entries have no signature header and are shown as "XMLDSig / in the body".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["EvidenceView", "describe"]

_KEYID: Final = re.compile(r'keyid="([^"]{1,200})"')
_ALG: Final = re.compile(r'alg="([^"]{1,50})"')


@dataclass(frozen=True, slots=True)
class EvidenceView:
    scheme: str
    key_id: str
    result: str  # an i18n key: verified_on_receipt, signed_by_gateway, answer_received


def _jws_header(token: str) -> dict[str, str]:
    head = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return {str(k): str(v) for k, v in decoded.items()} if isinstance(decoded, dict) else {}


def _scheme(evidence: Mapping[str, str]) -> tuple[str, str]:
    if "x-ah-jws" in evidence:
        header = _jws_header(evidence["x-ah-jws"])
        return f"JWS {header.get('alg', '?')}", header.get("kid", "-")
    if "x-sm2-sign" in evidence:
        return "SM2 with SM3", evidence.get("x-sm2-cert-sn", "-")
    if "x-tif-signature" in evidence:
        return "HMAC-SHA256 (x-tif)", evidence.get("x-tif-paasid", "-")
    if "signature-input" in evidence:
        params = evidence["signature-input"]
        alg, keyid = _ALG.search(params), _KEYID.search(params)
        return f"HTTP Message Signatures {alg.group(1) if alg else ''}".strip(), keyid.group(1) if keyid else "-"
    return "XMLDSig / in the body", "-"


def describe(direction: str, operation: str, evidence: Mapping[str, str]) -> EvidenceView:
    scheme, key_id = _scheme(evidence)
    if direction == "out":
        result = "signed_by_gateway"
    elif operation.endswith(":answer"):
        result = "answer_received"
    else:
        result = "verified_on_receipt"
    if operation.startswith("console."):
        scheme, key_id, result = "-", "-", "operator_action"
    return EvidenceView(scheme, key_id, result)
