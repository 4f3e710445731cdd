"""The one outbound transport seam: the only module that owns an ``aiohttp.ClientSession``.

Every outbound call of the gateway (deliveries, token requests, licence queries, catalogue pages) and of the
simulators' callbacks goes through a ``Transport``. Failures are mapped once, here, to the delivery exception tree
(``gateway.delivery.outcomes``) with ``raise ... from exc``: nothing above this module sees an aiohttp exception.
No transport failure is a :class:`~gateway.errors.Refusal`: nobody refused the message, so the permanent and
configuration fates are :class:`~gateway.delivery.outcomes.Undeliverable` with the gateway's own dead-letter code.

The mapping is one explicit table, ``TRANSPORT_ERRORS`` (as httpx maps httpcore's exceptions), from each aiohttp
client exception class to its fate; a test walks ``aiohttp.ClientError``'s subclasses and fails on any class not
listed, so an aiohttp upgrade that adds one is decided here rather than retried by default::

    CONNECTION     ConnectionFailed (transient): refused, reset, DNS, TLS handshake, a broken answer
    TIMEOUT        DeliveryTimeout (transient): no complete answer in time
    PERMANENT      Undeliverable TRANSPORT_REFUSED: the same request can never be answered (redirect loop)
    CONFIGURATION  DestinationMisconfigured (Undeliverable, DESTINATION_MISCONFIGURED): the request cannot be made as
                   configured (a base_url that is no http(s) URL, a certificate that does not verify, a pinned
                   fingerprint that does not match); retrying for max_age would not help, fixing the
                   configuration does, then ``gateway outbox retry`` sends the dead letters again

Before this table every ``aiohttp.ClientError`` was a ``ConnectionFailed``: a missing base_url was retried for three
days (issue 13 item 4). ``gateway check-config`` refuses such a base_url before the gateway starts
(gateway/config_schema.py); the table is the second line for what only the network can tell.
``FakeTransport`` has the same interface and hands requests to an async function, for tests of the layers above.
"""

from __future__ import annotations

import asyncio
import enum
import io
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import aiohttp

from adapters.wire import HttpRequest, HttpResponse, Transport, lower_headers
from gateway.delivery.outcomes import ConnectionFailed, DeliveryError, DeliveryTimeout, Undeliverable
from gateway.observability.tracing import child_traceparent

__all__ = [
    "DESTINATION_MISCONFIGURED",
    "TRANSPORT_ERRORS",
    "TRANSPORT_REFUSED",
    "AiohttpTransport",
    "DestinationMisconfigured",
    "FakeTransport",
    "Fate",
    "Transport",
    "mapped_error",
]

LARGE_BODY = 1024 * 1024
DESTINATION_MISCONFIGURED: Final = "DESTINATION_MISCONFIGURED"
TRANSPORT_REFUSED: Final = "TRANSPORT_REFUSED"


class Fate(enum.Enum):
    """What a transport exception means for the message: retry it (and how to say why), or give it up (and why)."""

    CONNECTION = "connection"
    TIMEOUT = "timeout"
    PERMANENT = "permanent"
    CONFIGURATION = "configuration"


class DestinationMisconfigured(Undeliverable):
    """The request cannot be made as the destination is configured; dead-lettered at once, never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(DESTINATION_MISCONFIGURED, reason)


_C, _T, _P, _X = Fate.CONNECTION, Fate.TIMEOUT, Fate.PERMANENT, Fate.CONFIGURATION

# Editing rule: every class of aiohttp.client_exceptions is listed by itself (tests/test_transport.py checks it);
# the most specific listed class of an exception's MRO decides, so order does not matter.
TRANSPORT_ERRORS: Final[Mapping[type[BaseException], Fate]] = {
    aiohttp.ClientError: _C,
    # an answer that arrived but could not be read or was an error we did not ask to raise: the peer may recover
    aiohttp.ClientResponseError: _C,
    aiohttp.ContentTypeError: _C,
    aiohttp.WSServerHandshakeError: _C,
    aiohttp.ClientHttpProxyError: _C,
    aiohttp.TooManyRedirects: _P,  # redirects are not followed (allow_redirects=False); a loop stays a loop
    aiohttp.ClientConnectionError: _C,
    aiohttp.ClientConnectionResetError: _C,
    aiohttp.ClientOSError: _C,
    aiohttp.ClientConnectorError: _C,
    aiohttp.ClientConnectorDNSError: _C,  # a resolver outage looks the same as a misspelt host; retried
    aiohttp.ClientProxyConnectionError: _C,
    aiohttp.client_exceptions.UnixClientConnectorError: _C,
    aiohttp.ClientSSLError: _C,
    aiohttp.ClientConnectorSSLError: _C,  # a handshake that failed (reset, protocol): the peer may recover
    aiohttp.ClientConnectorCertificateError: _X,  # the peer's certificate does not verify against our trust
    aiohttp.ServerConnectionError: _C,
    aiohttp.ServerDisconnectedError: _C,
    aiohttp.ServerTimeoutError: _T,
    aiohttp.ConnectionTimeoutError: _T,
    aiohttp.SocketTimeoutError: _T,
    aiohttp.ServerFingerprintMismatch: _X,  # a pinned fingerprint that no longer matches: fix the pin
    aiohttp.ClientPayloadError: _C,
    aiohttp.client_exceptions.UploadAbortedError: _C,
    aiohttp.InvalidURL: _X,
    aiohttp.InvalidUrlClientError: _X,
    aiohttp.InvalidUrlRedirectClientError: _X,
    aiohttp.RedirectClientError: _X,
    aiohttp.NonHttpUrlClientError: _X,
    aiohttp.NonHttpUrlRedirectClientError: _X,
    # below aiohttp: the socket and TLS layers, and asyncio's deadline
    TimeoutError: _T,
    ssl.SSLCertVerificationError: _X,
    ssl.SSLError: _C,
    OSError: _C,
}


def mapped_error(exc: BaseException) -> DeliveryError:
    """The delivery exception for a transport exception (the caller raises it ``from exc``); the message names the
    exception class only, never the URL (which may carry a token) or a body."""
    fate = next((TRANSPORT_ERRORS[k] for k in type(exc).__mro__ if k in TRANSPORT_ERRORS), Fate.CONNECTION)
    name = type(exc).__name__
    if fate is Fate.TIMEOUT:
        return DeliveryTimeout("no answer in time" if name == "TimeoutError" else name)
    if fate is Fate.CONFIGURATION:
        return DestinationMisconfigured(f"{name}: fix the platform's base_url or TLS settings")
    if fate is Fate.PERMANENT:
        return Undeliverable(TRANSPORT_REFUSED, name)
    return ConnectionFailed(name)


class AiohttpTransport:
    """Pooled HTTP(S) client. One per process (or per test); close it on shutdown."""

    def __init__(self, *, limit_per_host: int = 32) -> None:
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=self._limit_per_host)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        tls: ssl.SSLContext | bool = request.tls if request.tls is not None else True
        headers = dict(request.headers)
        # W3C trace context: a child of the current request's span (or a new trace), never covered by a signature
        headers.setdefault("traceparent", child_traceparent())
        try:
            async with self._client().request(
                request.method,
                request.url,
                headers=headers,
                # aiohttp warns about large bytes payloads; a stream of the same bytes goes out unchanged
                data=(io.BytesIO(request.body) if len(request.body) > LARGE_BODY else request.body) or None,
                ssl=tls,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                return HttpResponse(resp.status, lower_headers(resp.headers), body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            raise mapped_error(exc) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class FakeTransport:
    """Hands each request to ``handler``; records what was sent. Same interface as the real transport."""

    def __init__(self, handler: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> None:
        self._handler = handler
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        self.sent.append(request)
        try:
            return await asyncio.wait_for(self._handler(request), timeout)
        except TimeoutError as exc:
            raise DeliveryTimeout("no answer in time") from exc

    async def close(self) -> None:
        return None
