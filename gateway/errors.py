"""The gateway's exception tree and its RFC 9457 rendering.

    GatewayError                     anything the gateway raises on purpose
    ├── Rejection                    a message is refused with a stable code (README §10)
    │   (code, where, detail)        where = the field path in the message as its dialect document names it
    └── ConfigError                  configuration is wrong; names the file, the key, the value and the fix

A rejection's ``detail`` never carries the refused value: values may be personal data (ID numbers, names,
phones), and rejections end up in logs, metrics and problem documents.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "UNKNOWN_PEER_CODE_FALLBACK",
    "ConfigError",
    "GatewayError",
    "Rejection",
    "RejectionCode",
    "peer_code",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://tongban.gateway/problems/"


class RejectionCode(StrEnum):
    """The stable rejection codes of README §10, in the order the checks run."""

    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    AUTH_FAILED = "AUTH_FAILED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    REPLAYED = "REPLAYED"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    ENCODING_MISMATCH = "ENCODING_MISMATCH"
    XML_DTD_FORBIDDEN = "XML_DTD_FORBIDDEN"
    MALFORMED = "MALFORMED"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    TOO_MANY_ENTRIES = "TOO_MANY_ENTRIES"
    MISSING_FIELD = "MISSING_FIELD"
    BAD_FORMAT = "BAD_FORMAT"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    UNKNOWN_ITEM = "UNKNOWN_ITEM"
    UNKNOWN_REGION = "UNKNOWN_REGION"
    ID_CHECKSUM = "ID_CHECKSUM"
    USCC_CHECKSUM = "USCC_CHECKSUM"
    LICENCE_ID_CHECKSUM = "LICENCE_ID_CHECKSUM"
    RULE_VIOLATION = "RULE_VIOLATION"
    CONSENT_INVALID = "CONSENT_INVALID"


_TITLES: dict[RejectionCode, str] = {
    RejectionCode.BODY_TOO_LARGE: "Body larger than the platform's limit",
    RejectionCode.AUTH_FAILED: "Client authentication failed",
    RejectionCode.SIGNATURE_INVALID: "Message signature missing or invalid",
    RejectionCode.REPLAYED: "Timestamp outside the window or nonce already seen",
    RejectionCode.UNSUPPORTED_TYPE: "Record type not carried by this dialect",
    RejectionCode.ENCODING_MISMATCH: "Bytes or declaration not in the required encoding",
    RejectionCode.XML_DTD_FORBIDDEN: "DOCTYPE or entity declarations are not allowed",
    RejectionCode.MALFORMED: "Message is not well-formed or not the documented envelope",
    RejectionCode.BATCH_TOO_LARGE: "More records in one batch than allowed",
    RejectionCode.TOO_MANY_ENTRIES: "More list entries than allowed",
    RejectionCode.MISSING_FIELD: "A required field is absent or empty",
    RejectionCode.BAD_FORMAT: "A field has the wrong type or format",
    RejectionCode.FIELD_TOO_LONG: "A field is longer than its maximum",
    RejectionCode.UNKNOWN_CODE: "A coded value is not in the code list",
    RejectionCode.UNKNOWN_ITEM: "The item is not offered by the platform",
    RejectionCode.UNKNOWN_REGION: "The region is not served",
    RejectionCode.ID_CHECKSUM: "ID number check character is wrong",
    RejectionCode.USCC_CHECKSUM: "Unified social credit code check character is wrong",
    RejectionCode.LICENCE_ID_CHECKSUM: "Licence identifier check character is wrong",
    RejectionCode.RULE_VIOLATION: "Fields break a cross-field rule",
    RejectionCode.CONSENT_INVALID: "Holder consent missing, invalid or out of scope",
}

_STATUS: dict[RejectionCode, int] = {
    RejectionCode.BODY_TOO_LARGE: 413,
    RejectionCode.AUTH_FAILED: 401,
    RejectionCode.SIGNATURE_INVALID: 401,
    RejectionCode.REPLAYED: 401,
    RejectionCode.UNSUPPORTED_TYPE: 400,
    RejectionCode.ENCODING_MISMATCH: 400,
    RejectionCode.XML_DTD_FORBIDDEN: 400,
    RejectionCode.MALFORMED: 400,
    RejectionCode.CONSENT_INVALID: 403,
}


#: What a peer's refusal code that README §10 does not list becomes (docs/decisions.md, "Codes from a peer"): the
#: peer refused the message on business grounds that fields were individually readable but unacceptable to it, and
#: sending it again unchanged cannot succeed. ``RULE_VIOLATION`` is the one §10 code that says exactly that much.
UNKNOWN_PEER_CODE_FALLBACK = RejectionCode.RULE_VIOLATION

_PEER_CODE_SHAPE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


def peer_code(raw: object) -> tuple[RejectionCode, str]:
    """A refusal code as a peer platform sent it, parsed once: (the §10 code, a detail naming what was sent).

    Every place that reads a peer's code goes through here, so a code the gateway does not know (``NOT_FOUND``) is
    a refusal with :data:`UNKNOWN_PEER_CODE_FALLBACK`, never a ``ValueError``. The detail quotes the peer's code only
    when it has the shape of a code (upper-case letters, digits, ``_``; at most 40), since it is peer input that ends
    in logs; anything else is described, not quoted.
    """
    if isinstance(raw, str) and raw in RejectionCode.__members__:
        return RejectionCode(raw), ""
    if isinstance(raw, str) and _PEER_CODE_SHAPE.fullmatch(raw):
        return UNKNOWN_PEER_CODE_FALLBACK, f"the peer answered code {raw}, which README §10 does not list"
    return UNKNOWN_PEER_CODE_FALLBACK, "the peer answered a refusal code that README §10 does not list"


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class Rejection(GatewayError):
    """A message refused with a stable code; ``where`` is the field path in the sender's dialect."""

    def __init__(self, code: RejectionCode | str, where: str | None = None, detail: str = "") -> None:
        self.code = RejectionCode(code)
        self.where = where
        self.detail = detail
        super().__init__(self._text())

    def _text(self) -> str:
        at = f" at {self.where}" if self.where else ""
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.code.value}{at}{tail}"

    @property
    def http_status(self) -> int:
        """The HTTP status a problem document for this code carries (field-level codes are 422)."""
        return _STATUS.get(self.code, 422)

    def to_problem(self, **extra: Any) -> dict[str, Any]:
        """The RFC 9457 problem document, with the stable ``code`` member and the field path."""
        problem: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code.value,
            "title": _TITLES[self.code],
            "status": self.http_status,
            "code": self.code.value,
        }
        if self.where:
            problem["field"] = self.where
        if self.detail:
            problem["detail"] = self.detail
        problem.update(extra)
        return problem

    def at(self, where: str) -> Rejection:
        """The same rejection placed at ``where`` (used when a nested check learns its path late)."""
        return Rejection(self.code, where, self.detail)


class ConfigError(GatewayError):
    """Configuration is wrong. The message names the file, the key, the bad value and what to do."""

    def __init__(self, source: str, key: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix
        hint = f"; {fix}" if fix else ""
        super().__init__(f"{source}: {key}: {problem}{hint}")
