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

__all__ = ["HttpRequest", "HttpResponse", "Transport", "lower_headers"]


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


class Transport(Protocol):
    """What sends an ``HttpRequest`` and returns the ``HttpResponse``: declared here, beside the values, so that the
    dialects' roles depend on the interface only; ``gateway.transport`` owns the one implementation (aiohttp) and
    maps its failures to the delivery exception tree."""

    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        """Send ``request``; raise ``ConnectionFailed`` or ``DeliveryTimeout`` when no answer came back."""
        ...
