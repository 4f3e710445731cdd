"""The one middleware in front of every partner endpoint: rate, time limit, every refusal seen once.

Why one and not four: each aiohttp middleware layer is a coroutine and, on a sub-application, a wrapper more per
request; under intake load the partner endpoints' three layers were a measurable part of the event loop's time.
The order is the one the layers had, outermost first:

0. a partner whose scheme needs the client certificate (g60.md §1) is served on the mutual-TLS listener only:
   elsewhere its call is refused ``404`` before a byte of its body is read (``limits.mtls_refusal``; issue 11
   item 12: a 10 MiB body was read and parsed on the plain listener, where mutual TLS can never succeed);
1. the partner's documented rate (``limits.rate_refusal``: 429 with ``Retry-After``); the call's signature
   evidence is no longer bound here: the endpoint hands it to the message log with the call (``InboundCall.headers``);
2. the whole call, body upload included, within ``request_timeout`` seconds (``limits.timeout_refusal``: 408);
3. every refusal of the call, at any stage, counted and logged here and only here (:func:`record_refusals`): the
   endpoint notes the ``Refusal`` it answers with (``gateway.observability.refusals.note_refusal``), whatever
   the dialect's answer looks like.

The gateway's own API (``/v1/translate``, ``/admin/...``) raises its refusals for the problem+json renderer;
:func:`api_refusal_middleware`, inside the trace middleware, counts and logs them on their way out under the
platform label ``api``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.errors import Refusal
from gateway.observability.metrics import API, UNVERIFIED, GatewayMetrics
from gateway.observability.refusals import NotedRefusal, RefusalSlot, bind_refusal_slot

from .keys import SERVER_TLS
from .limits import TokenBucket, mtls_refusal, rate_refusal, timeout_refusal

__all__ = ["api_refusal_middleware", "partner_edge_middleware", "record_refusals"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("gateway.refusals")
_AUTH_CODES = frozenset({"AUTH_FAILED", "SIGNATURE_INVALID", "REPLAYED"})


def record_refusals(metrics: GatewayMetrics, platform: str, dialect: str, slot: RefusalSlot, status: int,
                    seconds: float) -> None:
    """Count and log what ``slot`` holds for one call of ``platform``: one ``tongban_refusals_total`` increment and
    one WARNING line per refusal (platform, stage, code, field path; the request id comes from the log context;
    never the value or the detail text, which may quote it)."""
    for refusal in slot.refusals:
        metrics.count_refusal(platform, refusal.code)
        if refusal.code in _AUTH_CODES:
            metrics.refuse_auth(platform, refusal.code)
        if dialect and refusal.stage in ("decode", "field_rules"):
            metrics.refuse_translation(dialect, refusal.code)
        log.warning("refused a call from %s: %s at %s", platform, refusal.code, refusal.where or "-",
                    extra={"platform": platform, "stage": refusal.stage, "code": refusal.code,
                           "field": refusal.where, "status": status})
    if slot.refusals and not slot.handled:  # refused before the business handler counted the call
        metrics.observe_request(platform, UNVERIFIED, slot.refusals[-1].code, seconds)


def partner_edge_middleware(metrics: GatewayMetrics, platform: str, bucket: TokenBucket, request_timeout: float,
                            dialect: str = "", *, mtls_only: bool = False) -> Any:
    """The middleware of partner ``platform``'s sub-application (``dialect``: its dialect, for the per-dialect
    translation refusal counter; ``mtls_only``: its scheme needs the client certificate, so it is refused on any
    listener but the mutual-TLS one before its body is read, issue 11 item 12)."""

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        with bind_refusal_slot() as slot:
            if mtls_only and not _on_mutual_tls(request):
                slot.refusals.append(NotedRefusal("NOT_FOUND", None))
                record_refusals(metrics, platform, dialect, slot, 404, 0.0)
                return mtls_refusal()
            refused = rate_refusal(bucket)
            if refused is not None:
                slot.refusals.append(NotedRefusal("RATE_LIMITED", None))
                record_refusals(metrics, platform, dialect, slot, refused.status, 0.0)
                return refused
            try:
                async with asyncio.timeout(request_timeout):
                    response = await handler(request)
            except TimeoutError:
                response = timeout_refusal(request_timeout)
                slot.refusals.append(NotedRefusal("REQUEST_TIMEOUT", None))
            record_refusals(metrics, platform, dialect, slot, response.status, time.perf_counter() - started)
        return response

    return edge


def _on_mutual_tls(request: web.Request) -> bool:
    """Did the call arrive on the mutual-TLS listener (whose handshake already required a trusted certificate)?"""
    tls = request.config_dict.get(SERVER_TLS)
    transport = request.transport
    return tls is not None and transport is not None and transport.get_extra_info("sslcontext") is tls


def api_refusal_middleware(metrics: GatewayMetrics) -> Any:
    """Count and log a refusal of the gateway's own API (platform ``api``), then let the renderer answer it."""

    @web.middleware
    async def api_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as exc:
            slot = RefusalSlot([NotedRefusal(exc.code.value, exc.where)], handled=True)
            record_refusals(metrics, API, "", slot, exc.http_status, 0.0)
            raise

    return api_refusals
