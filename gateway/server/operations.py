"""What operators see: /metrics, /readyz, request and delivery metrics, periodic gauges, message-log sealing.

``MeteredHandler`` wraps the partner handler: it times every verified call and counts its outcome (``accepted`` or
the rejection code), 差评 per region, licence queries and consent refusals. ``background`` refreshes the outbox
and breaker gauges and seals the message log at its interval (breaker changes also reach the gauge at once, through
the breakers' observer). ``readiness_checks`` answers /readyz about this instance only: the store takes a write
(a real commit, so a full disk or a read-only file fails it; ``SELECT 1`` did not), its migrations ran (the store is
opened, and migrated, before the listeners start), keys are loaded and certificates are valid. A partner's breaker
is never readiness: one partner's outage would take every replica out of service and refuse all other platforms'
traffic; it is a metric and an alert (``TongbanBreakerOpen`` in ops/prometheus/alerts.yml).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from typing import Any

from aiohttp import web

from gateway.delivery import BreakerRegistry, DeadLetter, Done, RetryAt
from gateway.dialects import DialectLink
from gateway.errors import Refusal
from gateway.msglog.api import MessageLog
from gateway.observability.context import bind_request
from gateway.observability.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.observability.refusals import note_handled
from gateway.store.api import OutboundMessage, Outbox, Store, SyncState
from gateway.sync.status import export_statuses, read_statuses
from gateway.wire.base import InboundCall, InboundHandler, InboundResult

__all__ = [
    "READINESS_CHECKPOINT",
    "MeteredHandler",
    "background",
    "delivery_observer",
    "metrics_route",
    "readiness_checks",
    "readiness_route",
]

log = logging.getLogger("gateway.operations")
BAD_REVIEW = frozenset({"DISSATISFIED", "VERY_DISSATISFIED"})
#: the checkpoint row /readyz rewrites to prove the store takes a commit (one row, shared by all instances)
READINESS_CHECKPOINT = "gateway.readiness"
#: seconds a readiness write may take before the store counts as not writable (a probe must answer promptly)
READINESS_WRITE_TIMEOUT = 2.0


class MeteredHandler:
    def __init__(
        self, inner: InboundHandler, metrics: GatewayMetrics, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.inner = inner
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, call: InboundCall) -> InboundResult:
        started = self.clock()
        outcome = "accepted"
        try:
            result = await self.inner(call)
        except Refusal as exc:
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
            note_handled()  # the edge counts only the calls refused before they reached this handler
            if outcome == "accepted" and log.isEnabledFor(logging.DEBUG):
                # refusals are logged once, at the partner edge (gateway/server/edge.py); an accepted call is a
                # DEBUG line with no part of the record in it (its fields are built only when it is written)
                log.debug(
                    "%s from %s: accepted",
                    call.operation,
                    call.platform,
                    extra={
                        "platform": call.platform,
                        "operation": call.operation,
                        "outcome": outcome,
                        "ms": round(elapsed * 1000, 2),
                    },
                )
            if call.operation == "licence_query":  # an answered query found its licence (LicenceAnswer)
                self.metrics.observe_licence_query(call.platform, "found" if outcome == "accepted" else outcome)
        if call.operation == "evaluation" and getattr(call.record, "level", None) in BAD_REVIEW:
            self.metrics.count_bad_review(str(call.record.region))
        return result


def delivery_observer(
    metrics: GatewayMetrics, clock: Callable[[], float] = time.time
) -> Callable[[OutboundMessage, Any], None]:
    """The worker's outcome hook: attempts, retries, dead letters and acceptance-to-receipt latency per destination.

    ``clock`` is the worker's (Unix seconds, the clock ``created_at`` was written with)."""

    def observe(message: OutboundMessage, action: Any) -> None:
        # the line carries the submission's request id and trace (kept on the outbox message), or a fresh id
        bound = bind_request(message.request_id, message.traceparent) if message.request_id else nullcontext()
        with bound:
            log.log(
                logging.DEBUG if isinstance(action, Done) else logging.INFO,
                "delivery of %s to %s: %s",
                message.kind,
                message.destination,
                type(action).__name__,
                extra={
                    "destination": message.destination,
                    "outbox_id": message.id,
                    "message_id": message.message_id,
                    "attempts": message.attempts,
                    "code": getattr(action, "code", None),
                },
            )
        if isinstance(action, Done):
            metrics.observe_delivery(message.destination, "delivered")
            metrics.observe_delivery_latency(message.destination, clock() - message.created_at)
        elif isinstance(action, RetryAt):
            metrics.observe_delivery(message.destination, action.kind.value)
            metrics.count_retry(message.destination, action.kind.value)
        elif isinstance(action, DeadLetter):
            metrics.observe_delivery(message.destination, "dead")
            metrics.count_dead_letter(message.destination, action.code)

    return observe


async def refresh_gauges(
    store: Outbox, breakers: BreakerRegistry, metrics: GatewayMetrics, destinations: list[str], now: float
) -> None:
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
    sync_links: tuple[tuple[str, str], ...] = (),
) -> None:
    """Refresh the gauges every ``every`` seconds (the catalogue sync's saved status of ``sync_links`` included);
    every ``seal_interval`` seal the message log (its retention is the retention job's, gateway.retention)."""
    last_seal = clock()
    while not stop.is_set():
        try:
            await refresh_gauges(store, breakers, metrics, destinations, clock())
            set_certificate_gauges(metrics, certificates or [], clock())
            if sync_links:
                export_statuses(metrics, await read_statuses(store, sync_links))
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


def readiness_checks(
    store: Callable[[], SyncState],
    metrics: GatewayMetrics,
    certificates: list[tuple[str, str, Any]],
    keys_loaded: bool,
    clock: Callable[[], float],
) -> Callable[[], Awaitable[dict[str, str]]]:
    """This instance's readiness: the failures by check name (empty when ready); see the module docstring.

    The store check commits a checkpoint row rather than pinging: a read answers from the page cache while every
    write fails (disk full, read-only file system), and an instance that cannot commit cannot accept anything.
    """

    async def checks() -> dict[str, str]:
        failures: dict[str, str] = {}
        try:
            await asyncio.wait_for(
                store().put_checkpoint(READINESS_CHECKPOINT, f"{clock():.3f}"), READINESS_WRITE_TIMEOUT
            )
        except TimeoutError:
            failures["store"] = f"no commit within {READINESS_WRITE_TIMEOUT} s"
        except Exception as exc:  # readiness reports, it does not raise; the type names the failure, never data
            failures["store"] = f"cannot write: {type(exc).__name__}"
        if failures:
            log.warning("not ready: %s", ", ".join(sorted(failures)), extra={"checks": sorted(failures)})
        expired = set_certificate_gauges(metrics, certificates, clock())
        if expired:
            failures["certificates"] = "expired: " + ", ".join(expired)
        if not keys_loaded:
            failures["keys"] = "no link credentials loaded"
        return failures

    return checks


def metrics_route(metrics: GatewayMetrics) -> web.RouteDef:
    async def scrape(request: web.Request) -> web.Response:
        # rendered in a worker thread: with every label set at 0 from the start the text runs to thousands of
        # lines, and rendering it on the event loop would hold every request in flight for that long
        body = await asyncio.to_thread(metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return web.get("/metrics", scrape)


def readiness_route(checks: Callable[[], Any]) -> web.RouteDef:
    async def readyz(request: web.Request) -> web.Response:
        failures: dict[str, str] = await checks()
        status = 200 if not failures else 503
        return web.json_response({"ready": not failures, "failures": failures}, status=status)

    return web.get("/readyz", readyz)


def link_certificates(links: Mapping[str, DialectLink]) -> list[tuple[str, str, Any]]:
    """(platform, key id, certificate) for every X.509 certificate a link holds: its signing certificates (the
    leaves of ``LinkKeys.signer_chains``) and its trust anchors; key ids are ``sign-<serial>`` and ``ca-<serial>``."""
    found: list[tuple[str, str, Any]] = []
    for platform, link in links.items():
        held = link.key_material()
        for chain in held.signer_chains:
            found.append((platform, f"sign-{chain[0].serial_number:x}"[:24], chain[0]))
        for anchor in held.trust_anchors:
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
