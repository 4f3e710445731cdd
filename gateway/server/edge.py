"""The one middleware in front of every partner endpoint: rate, evidence, time limit, refusal metrics.

Why one and not four: each aiohttp middleware layer is a coroutine and, on a sub-application, a wrapper more per
request; under intake load the partner endpoints' three layers were a measurable part of the event loop's time.
The order is the one the layers had, outermost first:

0. a partner whose scheme needs the client certificate (g60.md §1) is served on the mutual-TLS listener only:
   elsewhere its call is refused ``404`` before a byte of its body is read (``limits.mtls_refusal``; issue 11
   item 12: a 10 MiB body was read and parsed on the plain listener, where mutual TLS can never succeed);
1. the partner's documented rate (``limits.rate_refusal``: 429 with ``Retry-After``);
2. the request's headers bound as the signature evidence of the call (``evidence.bind_inbound_headers``);
3. the whole call, body upload included, within ``request_timeout`` seconds (``limits.timeout_refusal``: 408);
4. authentication, signature and replay refusals counted from the answer (``operations.count_transport_refusal``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.evidence import bind_inbound_headers, unbind_inbound_headers
from gateway.observability.metrics import GatewayMetrics

from .keys import SERVER_TLS
from .limits import TokenBucket, mtls_refusal, rate_refusal, timeout_refusal
from .operations import count_transport_refusal

__all__ = ["partner_edge_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def partner_edge_middleware(metrics: GatewayMetrics, platform: str, bucket: TokenBucket, request_timeout: float,
                            *, mtls_only: bool = False) -> Any:
    """The middleware of partner ``platform``'s sub-application."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if mtls_only and not _on_mutual_tls(request):
            return mtls_refusal()
        refused = rate_refusal(bucket)
        if refused is not None:
            return refused
        token = bind_inbound_headers(request.headers)
        try:
            async with asyncio.timeout(request_timeout):
                response = await handler(request)
        except TimeoutError:
            return timeout_refusal(request_timeout)
        finally:
            unbind_inbound_headers(token)
        count_transport_refusal(metrics, platform, response)
        return response

    return edge


def _on_mutual_tls(request: web.Request) -> bool:
    """Did the call arrive on the mutual-TLS listener (whose handshake already required a trusted certificate)?"""
    tls = request.config_dict.get(SERVER_TLS)
    transport = request.transport
    return tls is not None and transport is not None and transport.get_extra_info("sslcontext") is tls
