"""What operators see: /metrics, /readyz, request and delivery metrics, periodic gauges, message-log sealing.

``MeteredHandler`` wraps the partner handler: it times every verified call and counts its outcome (``accepted`` or
the rejection code), 差评 per region, licence queries and consent refusals. ``background`` refreshes the outbox
and breaker gauges and seals the message log at its interval. ``readiness`` answers /readyz: the store answers,
keys are loaded, certificates are valid, and no breaker has been open longer than the threshold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from gateway.delivery import BreakerRegistry, DeadLetter, Done, RetryAt
from gateway.errors import Rejection
from gateway.msglog.api import MessageLog
from gateway.observability.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.store.api import OutboundMessage, Store
from gateway.wire.base import InboundCall, InboundHandler, InboundResult

__all__ = ["MeteredHandler", "background", "delivery_observer", "metrics_route", "readiness_route"]

log = logging.getLogger("gateway.operations")
BAD_REVIEW = frozenset({"DISSATISFIED", "VERY_DISSATISFIED"})


class MeteredHandler:
    def __init__(self, inner: InboundHandler, metrics: GatewayMetrics, clock: Callable[[], float] = time.perf_counter
                 ) -> None:
        self.inner = inner
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, call: InboundCall) -> InboundResult:
        started = self.clock()
        outcome = "accepted"
        try:
            result = await self.inner(call)
        except Rejection as exc:
            outcome = exc.code.value
            if call.operation == "licence_query" and exc.code.value == "CONSENT_INVALID":
                self.metrics.refuse_consent(call.platform, exc.detail.split(":")[0] or "other")
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            elapsed = self.clock() - started
            self.metrics.observe_request(call.platform, call.operation, outcome, elapsed)
            # one line per verified call; the record itself never goes to the log (the formatter masks by format
            # as a second line of defence)
            log.log(logging.DEBUG if outcome == "accepted" else logging.INFO,  # refusals are the news
                    "%s %s from %s: %s", call.operation, getattr(call.record, "case_no", "-"), call.platform,
                    outcome, extra={"platform": call.platform, "operation": call.operation, "outcome": outcome,
                                     "ms": round(elapsed * 1000, 2)})
            if call.operation == "licence_query":
                self.metrics.observe_licence_query(call.platform, outcome)
        if call.operation == "evaluation" and getattr(call.record, "level", None) in BAD_REVIEW:
            self.metrics.count_bad_review(str(call.record.region))
        return result


def delivery_observer(metrics: GatewayMetrics) -> Callable[[OutboundMessage, Any], None]:
    """The worker's outcome hook: attempts, retries and dead letters per destination."""

    def observe(message: OutboundMessage, action: Any) -> None:
        log.log(logging.DEBUG if isinstance(action, Done) else logging.INFO,
                "delivery of %s to %s: %s", message.kind, message.destination, type(action).__name__,
                extra={"destination": message.destination, "outbox_id": message.id, "attempts": message.attempts,
                        "code": getattr(action, "code", None)})
        if isinstance(action, Done):
            metrics.observe_delivery(message.destination, "delivered")
        elif isinstance(action, RetryAt):
            metrics.observe_delivery(message.destination, action.kind.value)
            metrics.count_retry(message.destination, action.kind.value)
        elif isinstance(action, DeadLetter):
            metrics.observe_delivery(message.destination, "dead")
            metrics.count_dead_letter(message.destination, action.code)

    return observe


async def refresh_gauges(store: Store, breakers: BreakerRegistry, metrics: GatewayMetrics, destinations: list[str],
                         now: float) -> None:
    stats = await store.outbox_stats(now)
    for destination in destinations:
        s = stats.get(destination)
        depth = 0 if s is None else s.pending + s.delivering
        age = 0.0 if s is None or s.oldest_pending_age is None else s.oldest_pending_age
        metrics.set_outbox(destination, depth, age)
        metrics.set_breaker(destination, breakers.get(destination).state.value)


async def background(
    store: Store,
    breakers: BreakerRegistry,
    metrics: GatewayMetrics,
    destinations: list[str],
    msglog: MessageLog | None,
    seal_interval: float,
    clock: Callable[[], float],
    stop: asyncio.Event,
    every: float = 5.0,
    certificates: list[tuple[str, str, Any]] | None = None,
) -> None:
    """Refresh the gauges every ``every`` seconds; every ``seal_interval`` seal the message log."""
    last_seal = clock()
    while not stop.is_set():
        try:
            await refresh_gauges(store, breakers, metrics, destinations, clock())
            set_certificate_gauges(metrics, certificates or [], clock())
            if msglog is not None:
                if clock() - last_seal >= seal_interval:
                    await msglog.seal(clock())  # its retention is the retention job's (gateway.retention)
                    last_seal = clock()
                metrics.set_seal_age(clock() - last_seal)
        except Exception:  # a failing refresh must not stop the gateway; the next round tries again
            log.exception("refreshing operational gauges failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            continue


def metrics_route(metrics: GatewayMetrics) -> web.RouteDef:
    async def scrape(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    return web.get("/metrics", scrape)


def readiness_route(checks: Callable[[], Any]) -> web.RouteDef:
    async def readyz(request: web.Request) -> web.Response:
        failures: dict[str, str] = await checks()
        status = 200 if not failures else 503
        return web.json_response({"ready": not failures, "failures": failures}, status=status)

    return web.get("/readyz", readyz)


def link_certificates(links: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(platform, key id, certificate) for every X.509 certificate a link holds: its signing certificate
    (``signer.cert``) and its trust anchors (``trust``); key ids are ``sign-<serial>`` and ``ca-<serial>``."""
    found: list[tuple[str, str, Any]] = []
    for platform, link in links.items():
        signer = getattr(link, "signer", None)
        cert = getattr(signer, "cert", None)
        if cert is not None:
            found.append((platform, f"sign-{cert.serial_number:x}"[:24], cert))
        trust = getattr(link, "trust", None)
        if trust is not None and hasattr(trust, "certificates"):
            for anchor in trust.certificates():
                found.append((platform, f"ca-{anchor.serial_number:x}"[:24], anchor))
    return found


def set_certificate_gauges(metrics: GatewayMetrics, certificates: list[tuple[str, str, Any]], now: float) -> list[str]:
    """Seconds left per certificate into the metrics; returns the expired ones (platform/key id) for readiness."""
    expired = []
    for platform, key_id, cert in certificates:
        left = cert.not_valid_after_utc.timestamp() - now
        metrics.set_key_expiry(platform, key_id, left)
        if left <= 0:
            expired.append(f"{platform}/{key_id}")
    return expired


_TRANSPORT_CODES = (b"SIGNATURE_INVALID", b"AUTH_FAILED", b"REPLAYED")


def count_transport_refusal(metrics: GatewayMetrics, platform: str, response: web.StreamResponse) -> None:
    """Count an authentication, signature or replay refusal of a partner endpoint (``tongban_auth_refusals``).

    The endpoints answer these in their dialect's own form (HTTP 401, a SOAP fault, a g60 receipt), so the stable
    code is read from the answer: the first of the three codes it names; a 401 naming none is ``AUTH_FAILED``.
    """
    body = getattr(response, "body", None)
    if isinstance(body, bytes) and len(body) < 16_384:
        code = next((c.decode() for c in _TRANSPORT_CODES if c in body), None)
        if code is None and response.status == 401:
            code = "AUTH_FAILED"
        if code is not None:
            metrics.refuse_auth(platform, code)
