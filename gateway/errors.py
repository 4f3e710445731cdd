"""The gateway's one exception tree and the RFC 9457 rendering of a refusal.

Everything the gateway, its dialects and its signing package raise on purpose derives from :class:`GatewayError`,
so a caller (the edge, the worker, the CLI) can tell "the gateway decided this" from a bug with one ``except``::

    GatewayError                         anything the gateway raises on purpose
    ├── Refusal                          a message refused with a stable code (README §10): code, where, side, detail
    │   └── SecretExpired                zlb code 15 answered to a client (adapters/zlb/scheme.py)
    ├── ConfigError                      configuration is wrong; names the file, the key, the value and the fix
    │   ├── ConfigProblems               every problem of one configuration at once (gateway/config_schema.py)
    │   └── DeliveryConfigError          a delivery setting is out of range (gateway/delivery/settings.py)
    ├── DeliveryError                    a delivery attempt failed without anybody refusing the message
    │   ├── TransientDeliveryError       may succeed later: ConnectionFailed, DeliveryTimeout, ServerError, Throttled
    │   └── Undeliverable                can never succeed as configured; carries a dead-letter code
    │       └── DestinationMisconfigured a base_url or TLS setting that cannot work (gateway/transport.py)
    ├── StoreError                       the durable store failed (gateway/store/errors.py)
    │   └── MessageLogError              the message log refused an operation (gateway/msglog/errors.py)
    ├── SigningError                     a signature, key, certificate or token was refused (signing/errors.py)
    └── (a few leaves for one module:    PlatformUnavailable, InvalidTraceParent, CheckpointUnreadable,
         ConsoleRefusal, mappings' Fail)

A :class:`Refusal` says who refused (:class:`Side`): ``ours`` when the gateway refused what it received or could
not write what it was to send (an item the destination's crosswalk lacks is the gateway's own refusal, issue 13),
``peer`` when the platform the gateway sent to refused it. Retryable versus permanent is a *type*: a refusal is
never retried, a :class:`~gateway.delivery.outcomes.TransientDeliveryError` may be, an
:class:`~gateway.delivery.outcomes.Undeliverable` is dead-lettered with its own (non-§10) code.

A refusal's ``detail`` never carries the refused value: values may be personal data (ID numbers, names, phones),
and refusals end up in logs, metrics and problem documents. A peer's refusal keeps the peer's free text as its
detail (for the dead-letter record) but leaves it out of ``str()`` and of the problem document, since it may echo
what was sent.
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
    "Refusal",
    "RejectionCode",
    "Side",
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
    """Base of every error the gateway raises on purpose (the tree is in the module docstring)."""


class Side(StrEnum):
    """Who refused a message: the words a dead letter and an operator read differ (issue 13)."""

    #: The gateway refused what it received, or could not write what it was to send (its own encoder or checks).
    OURS = "ours"
    #: The platform the gateway sent to refused what it was sent (its answer carried the code).
    PEER = "peer"


class Refusal(GatewayError):
    """A message refused with a stable README §10 code.

    ``where`` is the field path in the refusing side's dialect, ``side`` who refused, ``detail`` a data-free
    sentence of ours, or for a peer's refusal the peer's free text (kept for the dead-letter record, never in
    ``str()`` or a problem document). A code read from a peer goes through :meth:`from_peer`, never through
    ``RejectionCode(...)``, so an unknown one is the documented fallback and not a ``ValueError``.
    """

    def __init__(
        self, code: RejectionCode | str, where: str | None = None, detail: str = "", *, side: Side = Side.OURS
    ) -> None:
        self.code = RejectionCode(code)
        self.where = where
        self.detail = detail
        self.side = side
        super().__init__(self._text())

    @classmethod
    def from_peer(cls, raw_code: object, where: str | None = None, detail: str = "") -> Refusal:
        """A peer's refusal, its code parsed once by :func:`peer_code`; an unknown code's note replaces ``detail``."""
        code, unknown = peer_code(raw_code)
        return cls(code, where, unknown or detail, side=Side.PEER)

    def _text(self) -> str:
        at = f" at {self.where}" if self.where else ""
        if self.side is Side.PEER:
            return f"refused by the destination: {self.code.value}{at}"
        tail = f": {self.detail}" if self.detail else ""
        return f"{self.code.value}{at}{tail}"

    def __repr__(self) -> str:
        return f"Refusal(code={self.code.value!r}, where={self.where!r}, side={self.side.value!r})"

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
        if self.side is Side.PEER:
            problem["detail"] = "refused by the platform the gateway asked"
        elif self.detail:
            problem["detail"] = self.detail
        problem.update(extra)
        return problem

    def at(self, where: str) -> Refusal:
        """The same refusal placed at ``where`` (used when a nested check learns its path late)."""
        return Refusal(self.code, where, self.detail, side=self.side)


class ConfigError(GatewayError):
    """Configuration is wrong. The message names the file, the key, the bad value and what to do."""

    def __init__(self, source: str, key: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix
        hint = f"; {fix}" if fix else ""
        super().__init__(f"{source}: {key}: {problem}{hint}")
