"""One simulated platform as an aiohttp application, and running several of them.

The application mounts the dialect's ``Endpoint`` (server role: verification exactly as the platform does) with a
``SimulatedPlatform`` as its business handler, behind the fault-injection middleware, plus a control endpoint:

    GET  /_sim/records[?operation=case]   what the platform accepted (reference values, JSON)
    GET  /_sim/faults, PUT /_sim/faults   the fault plan (JSON object of changes)
    POST /_sim/reset                      forget everything received
    POST /_sim/emit-status                send a status event (reference-value JSON) to the gateway as this
                                          platform would, through the dialect's Client; answers the receipt
"""

from __future__ import annotations

import json
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.delivery import TransientDeliveryError, Undeliverable
from gateway.dialects import dialect
from gateway.errors import Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.records import StatusEvent, from_ref
from gateway.registry import Platform, Registry
from gateway.transport import AiohttpTransport, Transport
from signing.replay import InMemoryReplayGuard

from ..server.endpoints import endpoint_routes
from ..wire.base import InboundCall, InboundResult, WireContext
from ..wire.registry import platform_client
from .book import RecordBook
from .faults import CONTROL_PREFIX, FaultPlan, fault_middleware

__all__ = ["SimulatedPlatform", "SimulatorSpec", "build_simulator"]

Clock = Callable[[], float]
PROBLEM = "application/problem+json"
Extra = Callable[[InboundCall], Awaitable[InboundResult]]


@dataclass
class SimulatorSpec:
    """Everything one simulator needs: its platform, its side of the link, where the gateway listens."""

    platform: Platform
    link_settings: dict[str, Any]
    base_dir: Path
    gateway_url: str = ""  # the gateway's inbound base URL for this platform (status callbacks)
    gateway_link_settings: dict[str, Any] = field(default_factory=dict)  # this platform as a client of the gateway
    options: dict[str, Any] = field(default_factory=dict)  # catalogue size and seed, licence library, consent keys


class SimulatedPlatform:
    """The business side of a simulated platform: a record book, plus extras a dialect registers by operation
    (licence queries answered from a library, catalogue pages, item batch results)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.book = RecordBook(prefix=platform.id.upper().replace("-", "")[:6])
        self.extras: dict[str, Extra] = {}
        # "METHOD /path" of the latest requests that reached it (control routes aside); bounded for long runs
        self.requests: deque[str] = deque(maxlen=10_000)

    async def __call__(self, call: InboundCall) -> InboundResult:
        extra = self.extras.get(call.operation)
        if extra is not None:
            return await extra(call)
        if call.operation in ("case", "status", "evaluation"):
            return self.book.accept(call)
        raise Refusal(C.UNSUPPORTED_TYPE, None, f"{self.platform.id} does not take {call.operation}")


def _control_routes(sim: SimulatedPlatform, plan: FaultPlan, emit: Callable[[StatusEvent], Awaitable[str]]) -> list[
    web.RouteDef
]:
    async def records(request: web.Request) -> web.Response:
        return web.json_response(sim.book.snapshot(request.query.get("operation")), dumps=_dumps)

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(plan.as_dict())

    async def put_faults(request: web.Request) -> web.Response:
        try:
            plan.update(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"code": "BAD_FAULT_PLAN", "detail": str(exc)}, status=400)
        return web.json_response(plan.as_dict())

    async def reset(request: web.Request) -> web.Response:
        sim.book.reset()
        sim.requests.clear()
        return web.json_response({"reset": True})

    async def emit_status(request: web.Request) -> web.Response:
        try:
            values = await request.json()
            event = from_ref(StatusEvent, _status_values(values))
        except Refusal as exc:  # the caller's own values: its problem document as the gateway would write it
            problem = exc.to_problem()
            return web.json_response(problem, status=exc.http_status, content_type=PROBLEM, dumps=_dumps)
        except (ValueError, TypeError, KeyError, AttributeError):
            return _problem(400, "BAD_FORMAT", "the body is not a status event in reference values (JSON object)")
        try:
            receipt = await emit(event)
        except Refusal as exc:
            if exc.side is Side.PEER:  # the gateway refused: its code and field, never its free text (values)
                return _problem(422, exc.code.value, "the gateway refused the status event", exc.where)
            # the event could not be written, or the gateway's answer could not be read or verified
            return _problem(502, exc.code.value, "the gateway's answer was refused by this simulator", exc.where)
        except (TransientDeliveryError, Undeliverable) as exc:  # down, or unreachable as configured
            return _problem(502, "GATEWAY_UNAVAILABLE", f"the gateway did not take the event: {exc.reason}")
        return web.json_response({"receipt": receipt})

    return [
        web.get("/_sim/records", records),
        web.get("/_sim/faults", get_faults),
        web.put("/_sim/faults", put_faults),
        web.post("/_sim/reset", reset),
        web.post("/_sim/emit-status", emit_status),
    ]


def _request_log(sim: SimulatedPlatform) -> Any:
    """Note every request the platform receives (before any fault or check): tests assert on what reached it,
    e.g. that a refused licence consent sent nothing at all to the issuing platform."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith(CONTROL_PREFIX):
            sim.requests.append(f"{request.method} {request.path}")
        return await handler(request)

    return middleware


def _problem(status: int, code: str, title: str, field: str | None = None) -> web.Response:
    """An RFC 9457 problem document: what the simulator's caller (a test, an operator's curl) needs to see."""
    body: dict[str, Any] = {"type": f"urn:tongban:problem:{code}", "title": title, "status": status, "code": code}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, content_type=PROBLEM, dumps=_dumps)


def _status_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in ("event_at", "promise_end"):
        if isinstance(out.get(name), str):
            out[name] = datetime.fromisoformat(out[name])
    return out


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def build_simulator(
    spec: SimulatorSpec,
    registry: Registry,
    *,
    clock: Clock,
    transport: Transport | None = None,
    plan: FaultPlan | None = None,
) -> tuple[web.Application, SimulatedPlatform, ssl.SSLContext | None]:
    """The simulator of ``spec.platform``: the app, its business side (for extras and tests) and its server TLS."""
    declared = dialect(spec.platform.dialect)
    adapter = registry.adapter(spec.platform.dialect)
    link = declared.load_link(spec.link_settings, spec.base_dir)
    sim = SimulatedPlatform(spec.platform)
    plan = plan or FaultPlan()
    ctx = WireContext(spec.platform, link, adapter, clock)
    endpoint = declared.endpoint(ctx, InMemoryReplayGuard(), sim)
    if declared.simulator_extras is not None:
        declared.simulator_extras(sim, spec, ctx)
    outbound = transport or AiohttpTransport()

    async def emit(event: StatusEvent) -> str:
        if not spec.gateway_url:
            raise Refusal(C.UNSUPPORTED_TYPE, None, "this simulator has no gateway to call back")
        back_link = declared.load_link(spec.gateway_link_settings or spec.link_settings, spec.base_dir)
        client = platform_client(registry, spec.platform, back_link, outbound, clock, spec.gateway_url)
        accepted = await client.submit("status", event, f"{spec.platform.id}-status-{event.case_no}-{event.seq}")
        return str(accepted.receipt_no)

    app = web.Application(
        middlewares=[_request_log(sim), fault_middleware(plan, clock)], client_max_size=16 * 1024 * 1024
    )
    app.add_routes(endpoint_routes(endpoint))  # the gateway's own edge: one body policy, in the dialect's form
    app.add_routes(_control_routes(sim, plan, emit))
    server_tls = declared.server_ssl_context(link) if declared.server_ssl_context is not None else None
    return app, sim, server_tls
