"""Per-platform request rates and slow clients, answered as problem documents.

The platform documents state each caller's rate (anhui.md §5 50/s per paas id, zlb.md §5 20/s per appKey,
hunan.md §5 30/s per client, shanghai.md §4 20/s per appId); the gateway holds its partners to the same rates on
their endpoints: a token bucket per partner platform (rate from ``[platforms.<id>] rate_limit``, else the
dialect's documented rate), answered with 429, ``Retry-After`` and a problem document. A call (body upload included)
that does not complete within ``request_timeout`` seconds is answered 408 instead of holding a connection open.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.errors import PROBLEM_TYPE_BASE

from .problems import problem_response

__all__ = [
    "OWN_TIME_LIMIT",
    "TokenBucket",
    "mtls_refusal",
    "rate_refusal",
    "time_limit_middleware",
    "timeout_refusal",
]

OUTER_GRACE = 1.0  # seconds the app-wide limit waits past ``request_timeout``: a partner endpoint's own limit answers
#: on a sub-application whose middleware holds each call to this many seconds itself (the partner edge, edge.py)
OWN_TIME_LIMIT: web.AppKey[float] = web.AppKey("own_time_limit", float)


class TokenBucket:
    """``rate`` requests per second with bursts of ``burst``; the clock is injectable."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self.clock = clock
        self.tokens = self.burst
        self.at = clock()

    def take(self) -> float:
        """0.0 when a request may go now, otherwise the seconds until one may."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def rate_refusal(bucket: TokenBucket) -> web.Response | None:
    """The 429 answer (``Retry-After`` in whole seconds) when ``bucket`` has no token now, else None."""
    wait = bucket.take()
    if wait <= 0:
        return None
    return problem_response(
        {
            "type": PROBLEM_TYPE_BASE + "RATE_LIMITED",
            "title": "Too many requests",
            "status": 429,
            "code": "RATE_LIMITED",
            "detail": "the documented request rate of this platform was exceeded",
        },
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def timeout_refusal(request_timeout: float) -> web.Response:
    """The 408 answer to a call (body upload included) that did not complete within ``request_timeout`` seconds."""
    return problem_response(
        {
            "type": PROBLEM_TYPE_BASE + "REQUEST_TIMEOUT",
            "title": "Request too slow",
            "status": 408,
            "code": "REQUEST_TIMEOUT",
            "detail": f"the call did not complete within {request_timeout:g} s",
        }
    )


def mtls_refusal() -> web.Response:
    """The answer on any listener but the mutual-TLS one to a route whose scheme needs the client certificate."""
    return problem_response(
        {
            "type": PROBLEM_TYPE_BASE + "NOT_FOUND",
            "title": "Not Found",
            "status": 404,
            "code": "NOT_FOUND",
            "detail": "this platform's endpoint is served on the gateway's mutual-TLS listener only",
        }
    )


def time_limit_middleware(request_timeout: float) -> Any:
    """Every route within ``request_timeout`` seconds (+ ``OUTER_GRACE``), answered ``408`` past it.

    Why app-wide: the partner endpoints have their own limit (``edge.py``, counted with their metrics), but the
    operators' routes (``/v1/translate``, the admin API, ``/readyz``) had none, and a store that hangs would have
    held their connections for as long as it hung (issue 11: every listener has a request time limit).

    A route of a sub-application that sets ``OWN_TIME_LIMIT`` no later than ``request_timeout`` is already held to
    it, and answered 408 by that limit first (this one waits ``OUTER_GRACE`` longer): it is passed through without
    a second timer (one ``asyncio.timeout`` is a timer scheduled and cancelled, ~6 us of CPU per partner call).
    """
    limit = request_timeout + OUTER_GRACE

    @web.middleware
    async def time_limit(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        own = request.match_info.apps[-1].get(OWN_TIME_LIMIT)
        if own is not None and own <= request_timeout:
            return await handler(request)
        try:
            async with asyncio.timeout(limit):
                return await handler(request)
        except TimeoutError:
            return timeout_refusal(request_timeout)

    return time_limit
