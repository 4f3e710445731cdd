"""What one delivery attempt can end in, as types.

A transport (the one module that owns the HTTP client) maps whatever went wrong *once*, at its
boundary, to one of these exceptions with ``raise ... from exc``; a platform's refusal is the gateway's
one refusal type, :class:`gateway.errors.Refusal` with ``side=peer``, raised by the dialect's client.
Everything above it (the short in-process retry, the circuit breaker, the outbox policy) decides on the
*type*, never on a parsed message, so a new transport cannot accidentally turn a refusal into a retry
or the other way round.

The tree::

    GatewayError (gateway.errors)
    ├── Refusal                        the message was refused (README §10 code; side ours or peer): dead letter
    └── DeliveryError                  the attempt failed without anybody refusing the message
        ├── TransientDeliveryError     may succeed later; carries ``kind`` and ``retry_after``
        │   ├── ConnectionFailed       kind CONNECTION: refused, reset, DNS, TLS handshake
        │   ├── DeliveryTimeout        kind TIMEOUT: no complete answer in time
        │   ├── ServerError            kind SERVER_ERROR: HTTP 5xx or a documented platform fault
        │   └── Throttled              kind THROTTLED: HTTP 429, usually with Retry-After
        └── Undeliverable              can never succeed as the gateway is set up (no client for the
                                       destination, a redirect loop, a misconfigured destination in
                                       gateway/transport.py); carries a dead-letter code, not a §10 one

A successful attempt is a value, :class:`Delivered`, not an exception. Transient, permanent and
configuration failures stay three explicit types; no code above the transport reads a message text.

A platform fault that travels inside the envelope rather than as an HTTP status (zlb ``code`` ``99``,
"platform fault, retry later", zlb.md §4) is mapped by the adapter to :class:`ServerError` as well:
retry vs refuse is decided by the type the adapter chooses, not by the HTTP status alone.

Exception text never carries the message body, the platform's free-text detail or any personal data:
``str()`` names the kind or the code only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.errors import GatewayError, Refusal

__all__ = [
    "ConnectionFailed",
    "Delivered",
    "DeliveryError",
    "DeliveryTimeout",
    "Outcome",
    "ServerError",
    "Throttled",
    "TransientDeliveryError",
    "TransientKind",
    "Undeliverable",
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


class DeliveryError(GatewayError):
    """Base of every delivery attempt that failed without a refusal; never raised itself."""


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


class Undeliverable(DeliveryError):
    """The message can never be delivered as the gateway is set up; dead-lettered at once, never retried.

    Nobody refused the message, so this is no :class:`~gateway.errors.Refusal` and its ``code`` is one of the
    gateway's dead-letter codes (``UNKNOWN_DESTINATION``, ``TRANSPORT_REFUSED``, ``DESTINATION_MISCONFIGURED``;
    see gateway/observability/metrics.py), not a README §10 code. ``reason`` is data-free.
    """

    def __init__(self, code: str, reason: str) -> None:
        if not code:
            raise ValueError("an undeliverable message needs a dead-letter code")
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"undeliverable ({self.code}): {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


Outcome = Delivered[object] | DeliveryError | Refusal
"""What the worker hands to the policy and the breaker after an attempt."""
