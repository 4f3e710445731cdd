"""What every dialect's wire scheme provides, in both roles.

Client role, ``PlatformClient``: someone calling a platform: the gateway delivering to a destination, querying a
licence, paging a catalogue, uploading an item batch; a simulator calling the gateway back with a status event.
Every call builds a freshly signed request (new timestamp and nonce: a retry is a new call), sends it through the
``Transport`` (the only HTTP client), verifies the signed answer, and returns a result or raises from the delivery
exception tree: a ``Refusal`` with ``side=peer`` (the platform refused, with its README §10 code parsed once), a
``Refusal`` with ``side=ours`` (the record cannot be written in the dialect, or a signed answer does not decode or
verify), or a ``TransientDeliveryError`` subclass (faults, throttling, bad or unsigned answers worth retrying).

Server role, ``PlatformEndpoint``: receiving calls as the platform does, sans-IO (as h11: bytes in, answer out):
it declares its routes as values (``Route``: method, path, ``handle(HttpRequest) -> HttpResponse``) and how it
refuses a call in its own form (``refuse``), and never imports aiohttp. The one server edge
(``gateway.server.endpoints``) reads the body once, under ``body_limit``, and refuses beyond it with
``BODY_TOO_LARGE`` rendered by ``refuse``; a unit test calls ``handle`` directly with a signed request value.
Then README §10 step 1 in the dialect's order (client authentication, message signature, timestamp and nonce), then
the adapter's decoding (steps 2-9), then a business ``InboundHandler``; the answer (receipt or refusal) is written
and signed as the dialect requires, never a bare 500. What the endpoint could not serve at all is answered in the
dialect's fault form, signed too, with the status and ``Retry-After`` of :func:`fault_of`: a store outage is
retryable (503 where the dialect allows it), anything else a 500 (issue 12 item 6). One endpoint class serves both
the simulator of a platform and the gateway's inbound routes towards that platform's partners (the documents'
"other direction").

Credentials of one side of a link (its own keys and secrets, and the peer's public keys) are a dialect-specific
frozen dataclass (the dialect's ``Link``, a ``gateway.dialects.DialectLink``), loaded from a
``[platforms.<id>.link]`` table by its ``Dialect.load_link``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.base import DialectAdapter
from adapters.wire import HttpRequest, HttpResponse, Transport
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature
from gateway.model.records import Item, ItemBatch, Licence, LicenceQuery
from gateway.registry import Platform
from gateway.store.errors import StoreUnavailable
from signing.replay import ReplayGuard

__all__ = [
    "OUTAGE_RETRY_AFTER",
    "Accepted",
    "BatchResult",
    "CataloguePage",
    "Clock",
    "Fault",
    "InboundCall",
    "InboundHandler",
    "InboundResult",
    "ItemResult",
    "LicenceAnswer",
    "PlatformClient",
    "PlatformEndpoint",
    "Route",
    "RouteHandler",
    "WireContext",
    "fault_of",
    "log_fault",
]

Clock = Callable[[], float]  # Unix seconds; injected everywhere so tests control time


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A verified and decoded call, handed to business logic."""

    platform: str  # the platform this endpoint speaks for
    caller: str  # the authenticated caller (paas id, SenderCode, appKey, client id, appId)
    operation: str  # "case", "status", "evaluation", "licence_query", "item_batch", "catalogue"
    record: Any  # the canonical record (a LicenceQuery for a licence query, an ItemBatch for a batch)
    message_id: str | None = None  # g60 MessageId, zlb requestId: the transport-level idempotency key
    body: bytes = b""  # the exact bytes received, for the message log
    query: Mapping[str, str] = field(default_factory=dict)  # catalogue paging parameters
    #: the request's headers (lower-case names): the message log keeps the signature-bearing ones as the call's
    #: evidence (``gateway.evidence``); handed along explicitly, as the call itself is
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"InboundCall({self.platform} ← {self.caller}: {self.operation})"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submission was accepted; ``repeated`` when its idempotency key had been accepted before (§9)."""

    receipt_no: str
    repeated: bool = False
    #: when the key was FIRST accepted (Unix seconds, from the store's inbound record), so a dialect whose receipt
    #: carries the acceptance time answers a repeat with the first one on every instance and after a restart
    #: (hunan.md §1); None where the handler does not know it (simulators, client-side answers)
    received_at: float | None = None


@dataclass(frozen=True, slots=True)
class LicenceAnswer:
    licence: Licence
    signature: LicenceSignature | None


@dataclass(frozen=True, slots=True)
class CataloguePage:
    page_no: int
    page_size: int
    total: int
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_code: str
    region: str
    ok: bool
    code: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_no: str
    results: tuple[ItemResult, ...]

    @property
    def accepted(self) -> int:
        return sum(r.ok for r in self.results)


InboundResult = Accepted | LicenceAnswer | CataloguePage | BatchResult
#: business logic behind an endpoint; it may raise ``Refusal`` (answered in the dialect's refusal form)
InboundHandler = Callable[[InboundCall], Awaitable[InboundResult]]


@dataclass(frozen=True, slots=True)
class WireContext:
    """What both roles share: the platform, its side of the link, the adapter, the clock."""

    platform: Platform
    link: Any  # the dialect's Link dataclass
    adapter: DialectAdapter
    clock: Clock
    base_url: str = ""  # client role: the peer's base URL


#: seconds a partner is asked to wait (``Retry-After``) when the gateway's store cannot take its call: long enough
#: for a database restart or fail-over to be noticed, short enough that a partner's retry finds it back
OUTAGE_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class Fault:
    """How an endpoint answers a call it could not serve: the HTTP status, and ``retry_after`` seconds when trying
    again later can succeed. The dialect writes and signs its own fault body (anhui code ``500``, zlb ``99``, hunan
    a problem document, shanghai ``soap:Server``, g60 a ``REJECTED`` receipt)."""

    status: int
    retry_after: int | None
    code: str  # for the dialects whose fault form names one (hunan's problem document, §4)

    @property
    def retryable(self) -> bool:
        return self.retry_after is not None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


_OUTAGE = Fault(503, OUTAGE_RETRY_AFTER, "UNAVAILABLE")
_INTERNAL = Fault(500, None, "INTERNAL")


def fault_of(exc: BaseException) -> Fault:
    """The fault for what escaped an endpoint's business steps: a store outage (``StoreUnavailable``: the database
    cannot be reached, is locked past its timeout, or the store is closed) is retryable, a 503 with ``Retry-After``;
    anything else is a 500 (a bug, or a permanent store error), which a partner may also retry but is not told when.
    """
    return _OUTAGE if isinstance(exc, StoreUnavailable) else _INTERNAL


def log_fault(logger: logging.Logger, platform: str, where: str, exc: BaseException, fault: Fault) -> None:
    """One line per fault: a store outage is a WARNING naming the error class (it is counted and alerted on through
    readiness, not through tracebacks); anything else an ERROR with its traceback (a bug to fix)."""
    if fault.retryable:
        logger.warning(
            "%s endpoint %s: store unavailable (%s), answered %d", platform, where, type(exc).__name__, fault.status
        )
    else:
        logger.error("%s endpoint %s failed (%s)", platform, where, type(exc).__name__, exc_info=exc)


def _unsupported(what: str) -> Refusal:
    return Refusal(C.UNSUPPORTED_TYPE, None, f"this platform does not offer {what}")


class PlatformClient:
    """Client role of a dialect towards one platform (see the module docstring)."""

    def __init__(self, ctx: WireContext, transport: Transport) -> None:
        self.ctx = ctx
        self.transport = transport

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        """Send a case, status event or evaluation; ``message_id`` stays the same across retries."""
        raise _unsupported(f"{record_type} submissions")

    async def query_licence(self, query: LicenceQuery, message_id: str) -> LicenceAnswer:
        raise _unsupported("licence queries")

    async def fetch_catalogue(self, page_no: int, page_size: int, since: datetime | None) -> CataloguePage:
        raise _unsupported("a catalogue")

    async def upload_items(self, batch: ItemBatch, message_id: str) -> BatchResult:
        raise _unsupported("item batches")


#: one route's handler: the whole request as a value in (body already read, under the endpoint's limit), the
#: signed answer out; it answers every refusal and fault itself and raises nothing
RouteHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """One documented route of an endpoint, as a value: the server edge mounts it, a test calls ``handle``."""

    method: str  # "GET" or "POST"
    path: str  # relative to the platform's base path; a ``{name}`` segment arrives in ``HttpRequest.params``
    handle: RouteHandler
    allow_head: bool = True  # a GET also answers HEAD, unless the answer's body is the point (zlb's token GETs)


class PlatformEndpoint(ABC):
    """Server role of a dialect for one platform (see the module docstring)."""

    def __init__(self, ctx: WireContext, replay: ReplayGuard, handler: InboundHandler) -> None:
        self.ctx = ctx
        self.replay = replay
        self.handler = handler

    @property
    def body_limit(self) -> int:
        """The largest body this platform takes (its document's §5 or §4); the edge reads no further."""
        return self.ctx.adapter.body_limit

    @abstractmethod
    def routes(self) -> list[Route]:
        """The platform's documented routes, relative to its base path (e.g. ``/kstb/v1/case/submit``)."""

    @abstractmethod
    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        """The dialect's own signed answer to a call refused before it reached a route's ``handle`` (the edge's
        ``BODY_TOO_LARGE``); ``request`` carries the method, URL and headers, and no body."""
