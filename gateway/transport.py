"""The one outbound transport seam: the only module that owns an ``aiohttp.ClientSession``.

Every outbound call of the gateway (deliveries, token requests, licence queries, catalogue pages) and of the
simulators' callbacks goes through a ``Transport``. Failures are mapped once, here, to the delivery exception tree
(``gateway.delivery.outcomes``) with ``raise ... from exc``: nothing above this module sees an aiohttp exception.
``FakeTransport`` has the same interface and hands requests to an async function, for tests of the layers above.
"""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp

from adapters.wire import HttpRequest, HttpResponse, lower_headers
from gateway.delivery.outcomes import ConnectionFailed, DeliveryTimeout
from gateway.observability.tracing import child_traceparent

__all__ = ["AiohttpTransport", "FakeTransport", "Transport"]

LARGE_BODY = 1024 * 1024


class Transport(Protocol):
    async def send(self, request: HttpRequest, *, timeout: float = 30.0) -> HttpResponse:
        """Send ``request``; raise ``ConnectionFailed`` or ``DeliveryTimeout`` when no answer came back."""
        ...


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
        except TimeoutError as exc:
            raise DeliveryTimeout("no answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(type(exc).__name__) from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailed(type(exc).__name__) from exc

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
