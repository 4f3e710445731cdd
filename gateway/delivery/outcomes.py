"""What one delivery attempt can end in, as types.

A transport (the one module that owns the HTTP client) maps whatever went wrong *once*, at its
boundary, to one of these exceptions with ``raise ... from exc``. Everything above it (the short
in-process retry, the circuit breaker, the outbox policy) decides on the *type*, never on a parsed
message, so a new transport cannot accidentally turn a refusal into a retry or the other way round.

The tree::

    DeliveryError                      base: catch this to catch every delivery failure
    ├── TransientDeliveryError         may succeed later; carries ``kind`` and ``retry_after``
    │   ├── ConnectionFailed           kind CONNECTION: refused, reset, DNS, TLS handshake
    │   ├── DeliveryTimeout            kind TIMEOUT: no complete answer in time
    │   ├── ServerError                kind SERVER_ERROR: HTTP 5xx or a documented platform fault
    │   └── Throttled                  kind THROTTLED: HTTP 429, usually with Retry-After
    └── PermanentRefusal               the platform refused the message on business grounds;
                                       carries the platform's stable code (README §10)

A successful attempt is a value, :class:`Delivered`, not an exception.

A platform fault that travels inside the envelope rather than as an HTTP status (zlb ``code`` ``99``,
"platform fault, retry later", zlb.md §4) is mapped by the adapter to :class:`ServerError` as well:
retry vs refuse is decided by the type the adapter chooses, not by the HTTP status alone.

Exception text never carries the message body, the platform's free-text detail or any personal data:
``str()`` names the kind or the stable code only. The detail stays available as an attribute for the
dead-letter record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "ConnectionFailed",
    "Delivered",
    "DeliveryError",
    "DeliveryTimeout",
    "Outcome",
    "PermanentRefusal",
    "ServerError",
    "Throttled",
    "TransientDeliveryError",
    "TransientKind",
]

R_co = TypeVar("R_co", covariant=True)


class TransientKind(enum.StrEnum):
    """Why a transient failure happened; a small closed set so it can label a metric."""

    CONNECTION = "connection"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    THROTTLED = "throttled"


@dataclass(frozen=True, slots=True)
class Delivered(Generic[R_co]):
    """The destination accepted the message; ``receipt`` is whatever the transport returns for it."""

    receipt: R_co


class DeliveryError(Exception):
    """Base of every failed delivery attempt; never raised itself."""


class TransientDeliveryError(DeliveryError):
    """The attempt failed in a way that may succeed later.

    ``reason`` is a short, data-free description ("HTTP 503", "connect refused").
    ``retry_after`` is the platform's own wish in seconds (Retry-After), used as a *floor* for the
    next wait, or ``None`` when the platform said nothing.
    """

    kind: TransientKind = TransientKind.SERVER_ERROR

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        if retry_after is not None and not retry_after >= 0:
            # Written so that NaN is refused too: a NaN floor would poison every comparison downstream.
            raise ValueError(f"retry_after must be a number of seconds >= 0, got {retry_after!r}")
        super().__init__(reason, retry_after)
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        wait = "" if self.retry_after is None else f", retry after {self.retry_after:g}s"
        return f"transient delivery failure ({self.kind}): {self.reason}{wait}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, retry_after={self.retry_after!r})"


class ConnectionFailed(TransientDeliveryError):
    """The connection could not be made or broke before an answer (refused, reset, DNS, TLS)."""

    kind = TransientKind.CONNECTION


class DeliveryTimeout(TransientDeliveryError):
    """No complete answer arrived within the transport's deadline."""

    kind = TransientKind.TIMEOUT


class ServerError(TransientDeliveryError):
    """The platform answered with a fault it documents as temporary (HTTP 5xx, zlb ``99``)."""

    kind = TransientKind.SERVER_ERROR


class Throttled(TransientDeliveryError):
    """The platform asked us to slow down (HTTP 429); ``retry_after`` says for how long, if it said."""

    kind = TransientKind.THROTTLED


class PermanentRefusal(DeliveryError):
    """The platform refused the message; sending it again unchanged cannot succeed.

    ``code`` is the stable rejection code (README §10, e.g. ``BAD_FORMAT``), ``where`` the field path or
    place the platform named, ``detail`` the platform's free text. Only ``code`` and ``where`` appear in
    ``str()``/``repr()``: the detail may echo field values, so it is kept for the dead-letter record only.
    """

    def __init__(self, code: str, detail: str = "", *, where: str | None = None) -> None:
        if not code:
            raise ValueError("a permanent refusal needs the platform's rejection code")
        super().__init__(code, where)
        self.code = code
        self.detail = detail
        self.where = where

    def __str__(self) -> str:
        place = "" if self.where is None else f" at {self.where}"
        return f"destination refused the message: {self.code}{place}"

    def __repr__(self) -> str:
        return f"PermanentRefusal(code={self.code!r}, where={self.where!r})"


Outcome = Delivered[object] | DeliveryError
"""What the worker hands to the policy and the breaker after an attempt."""
