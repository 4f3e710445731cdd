"""The request context (request id, trace) carried in ``contextvars``, so logs and outbound calls see it.

``contextvars`` follow asyncio tasks: each aiohttp request handler runs in its own task with its own copy, so two
requests in flight never see each other's ids. The trace middleware (:mod:`.tracing`) binds the context for a
request; the JSON log formatter (:mod:`.logging`) reads it on every record. Code outside a request (the outbox
worker, the sync job) binds its own with :func:`bind_request` for each unit of work.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeGuard

from gateway.randomness import random_hex

__all__ = [
    "RequestContext",
    "bind_request",
    "current_request",
    "new_request_id",
    "valid_request_id",
]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What identifies the unit of work a log line belongs to. ``traceparent`` is the W3C header value."""

    request_id: str
    traceparent: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The 32-hex trace id of ``traceparent`` (None without one)."""
        return self.traceparent.split("-")[1] if self.traceparent else None


_CURRENT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("tongban_request", default=None)


def new_request_id() -> str:
    """A fresh request id: 32 hex characters, unguessable, no meaning."""
    return random_hex(16)


def valid_request_id(value: str | None) -> TypeGuard[str]:
    """Whether an inbound ``X-Request-Id`` may be kept: short, from a safe alphabet (it is logged and echoed)."""
    return value is not None and _REQUEST_ID.fullmatch(value) is not None


def current_request() -> RequestContext | None:
    """The context bound in this task, or None outside any request."""
    return _CURRENT.get()


@contextmanager
def bind_request(request_id: str | None = None, traceparent: str | None = None) -> Iterator[RequestContext]:
    """Bind a request context for the ``with`` block (a fresh request id when none is given), then restore."""
    ctx = RequestContext(request_id if valid_request_id(request_id) else new_request_id(), traceparent)
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
