"""W3C Trace Context (``traceparent``) and the request-id middleware.

A request that crosses the gateway touches two or three platforms; an operator following one case through logs
of several systems needs one id that travels with it. The gateway keeps the caller's trace id (W3C Trace Context
level 1, https://www.w3.org/TR/trace-context/), opens its own span under it, and hands a child span to every
outbound call (:func:`child_traceparent`). ``X-Request-Id`` is the operators' short handle for one request: kept
when the caller sends a sane one, minted otherwise, and always echoed on the response.

Header grammar (version ``00``)::

    traceparent = "00" "-" trace-id(32 lower hex, not all 0) "-" parent-id(16 lower hex, not all 0) "-" flags(2 hex)

A malformed header is not an error for the request: the trace restarts (a new trace id), as the standard says.
``tracestate`` is not propagated (the gateway adds no vendor state).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.errors import GatewayError
from gateway.randomness import random_hex

from .context import bind_request, current_request

__all__ = [
    "REQUEST_ID_HEADER",
    "TRACEPARENT_HEADER",
    "InvalidTraceParent",
    "TraceParent",
    "child_traceparent",
    "current_trace",
    "current_traceparent",
    "new_traceparent",
    "parse_traceparent",
    "trace_middleware",
]

REQUEST_ID_HEADER = "X-Request-Id"
TRACEPARENT_HEADER = "traceparent"

_HEADER = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})(?P<rest>.*)",
    re.DOTALL,
)
_SAMPLED = 0x01


class InvalidTraceParent(GatewayError, ValueError):
    """A ``traceparent`` value that does not follow the W3C grammar; the message says which part, not the value."""


@dataclass(frozen=True, slots=True)
class TraceParent:
    """One span's position in a trace."""

    trace_id: str
    parent_id: str
    flags: int = _SAMPLED

    @property
    def sampled(self) -> bool:
        return bool(self.flags & _SAMPLED)

    def header(self) -> str:
        """The version-00 header value."""
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags:02x}"

    def child(self) -> TraceParent:
        """A new span in the same trace, with the same flags."""
        return TraceParent(self.trace_id, _random_hex(8), self.flags)


def _random_hex(nbytes: int) -> str:
    while True:
        value = random_hex(nbytes)
        if value.strip("0"):  # all-zero ids are invalid
            return value


def new_traceparent(*, sampled: bool = True) -> TraceParent:
    """The root span of a new trace."""
    return TraceParent(_random_hex(16), _random_hex(8), _SAMPLED if sampled else 0)


def parse_traceparent(value: str) -> TraceParent:
    """Parse a ``traceparent`` header value; raise :class:`InvalidTraceParent` if it is malformed.

    Version ``00`` must be exactly 55 characters; a higher version is read by its first four fields and may carry
    more after a ``-`` (forward compatibility, as the standard requires); version ``ff`` is invalid.
    """
    m = _HEADER.fullmatch(value.strip(" \t"))
    if m is None:
        raise InvalidTraceParent("traceparent does not have the version-traceid-parentid-flags shape")
    version, rest = m.group("version"), m.group("rest")
    if version == "ff":
        raise InvalidTraceParent("traceparent version ff is invalid")
    if version == "00" and rest:
        raise InvalidTraceParent("traceparent version 00 has extra characters")
    if rest and not rest.startswith("-"):
        raise InvalidTraceParent("traceparent has extra characters after the flags")
    if not m.group("trace").strip("0"):
        raise InvalidTraceParent("traceparent trace id is all zeros")
    if not m.group("parent").strip("0"):
        raise InvalidTraceParent("traceparent parent id is all zeros")
    return TraceParent(m.group("trace"), m.group("parent"), int(m.group("flags"), 16))


def current_trace() -> TraceParent | None:
    """The span of the work in progress (bound by :func:`trace_middleware` or ``bind_request``)."""
    ctx = current_request()
    if ctx is None or ctx.traceparent is None:
        return None
    try:
        return parse_traceparent(ctx.traceparent)
    except InvalidTraceParent:
        return None


def current_traceparent() -> str | None:
    """The current span as a header value, or None outside any trace."""
    trace = current_trace()
    return trace.header() if trace else None


def child_traceparent() -> str:
    """The ``traceparent`` to put on an outbound call: a child of the current span, or a new root outside one."""
    trace = current_trace()
    return (trace.child() if trace else new_traceparent()).header()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def trace_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware binding the request id and the trace for each request, echoing ``X-Request-Id``.

    Put it first (outermost) in ``create_app`` so the problem renderer and the access log inside it log with the
    request's ids; an ``HTTPException`` raised inside gets the header too.
    """

    @web.middleware
    async def trace(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(TRACEPARENT_HEADER)
        try:
            span = parse_traceparent(incoming).child() if incoming else new_traceparent()
        except InvalidTraceParent:
            span = new_traceparent()
        with bind_request(request.headers.get(REQUEST_ID_HEADER), span.header()) as ctx:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                exc.headers[REQUEST_ID_HEADER] = ctx.request_id
                raise
            if not response.prepared:  # a streamed response has sent its headers already
                response.headers[REQUEST_ID_HEADER] = ctx.request_id
            return response

    return trace
