"""HTTP messages as plain values, for the wire schemes (no I/O: the transport sends them, the server receives them).

A wire scheme signs an outgoing ``HttpRequest`` and verifies an incoming one, and reads or writes an
``HttpResponse``; it never opens a socket or reads the clock (the caller passes ``now``). Header names are kept
lower-case so that lookups do not depend on how a peer spelled them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Exchange", "HttpRequest", "HttpResponse", "Transport", "lower_headers"]


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request: ``url`` is absolute (``https://host/path?query``), as the client sent it or the server saw it."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    tls: Any = None  # an ssl.SSLContext for the client side of mutual TLS; None for plain HTTP
    #: server side only, filled by the edge that received the call: the route's path parameters (``{case_no}``),
    #: the peer's TLS client certificate (an ``x509.Certificate``, already verified by the handshake; g60.md §1)
    #: and the client's address. None and empty for a request a client builds.
    params: Mapping[str, str] = field(default_factory=dict)
    peer_certificate: Any = None
    client: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def query(self) -> dict[str, str]:
        if "?" not in self.url:  # most calls (every POST of a record) have none: no URL to split
            return {}
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def __repr__(self) -> str:  # bodies and headers may carry personal data and credentials
        return f"HttpRequest({self.method} {urlsplit(self.url).path}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {len(self.body)} bytes)"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What an outbound request is about, passed to ``Transport.send`` with it: the message log names each logged
    request and answer by these fields (platform, operation, record, ids). The client that builds the request knows
    them, so it says them explicitly; nothing is read from ambient state, so concurrent deliveries cannot mix them."""

    platform: str = "unknown"
    operation: str = "call"
    record_type: str = ""
    message_id: str = ""
    idem_key: str = ""
    case_no: str | None = None
    licence_id: str | None = None

    @classmethod
    def submission(cls, platform: str, record_type: str, record: Any, message_id: str) -> Exchange:
        """A case, status event, evaluation or other record sent with ``submit``: its search fields come along."""
        idem_key = str(getattr(record, "idempotency_key", ""))
        case_no = getattr(record, "case_no", None)
        licence_id = getattr(record, "identifier", None) or getattr(record, "licence_id", None)
        return cls(platform, record_type, record_type, message_id, idem_key, case_no, licence_id)

    @classmethod
    def licence_query(cls, platform: str, identifier: str, message_id: str) -> Exchange:
        return cls(platform, "licence_query", "licence", message_id, licence_id=identifier)

    @classmethod
    def catalogue(cls, platform: str) -> Exchange:
        return cls(platform, "catalogue", "item")

    @classmethod
    def item_batch(cls, platform: str, message_id: str) -> Exchange:
        return cls(platform, "item_batch", "item", message_id)


class Transport(Protocol):
    """What sends an ``HttpRequest`` and returns the ``HttpResponse``: declared here, beside the values, so that the
    dialects' roles depend on the interface only; ``gateway.transport`` owns the one implementation (aiohttp) and
    maps its failures to the delivery exception tree."""

    async def send(
        self, request: HttpRequest, *, timeout: float = 30.0, exchange: Exchange | None = None
    ) -> HttpResponse:
        """Send ``request``; raise ``ConnectionFailed`` or ``DeliveryTimeout`` when no answer came back. ``exchange``
        says what the request is about, for an observer such as the message log; sending ignores it."""
        ...
