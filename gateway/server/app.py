"""The application factory: everything the gateway runs is built here, nothing at import time.

Middleware order is fixed here, problem+json rendering outermost. Application state lives under ``AppKey``s. The
gateway speaks each platform's own dialect towards it: the platform's documented paths are mounted under
``/partners/<platform id>/`` (e.g. ``/partners/hefei/kstb/v1/case/submit``), verified with that platform's link
credentials, and accepted into the durable pipeline.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.config import Config
from gateway.consent import ConsentVerifier
from gateway.delivery import BreakerRegistry
from gateway.dialects import dialect
from gateway.errors import PROBLEM_TYPE_BASE, ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.evidence import (
    RecordingHandler,
    RecordingTransport,
    ensure_message_log_keys,
)
from gateway.licences import LicenceService
from gateway.links import LinkSettings, gateway_link_settings
from gateway.msglog.api import MessageLog
from gateway.msglog_cli import open_configured_log, seal_key
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.tracing import trace_middleware
from gateway.pipeline.intake import Intake
from gateway.pipeline.replay import StoreReplayGuard
from gateway.pipeline.routing import Router
from gateway.pipeline.worker import DeliveryWorker
from gateway.retention import RetentionJob, RetentionMetrics
from gateway.sealed_store import open_configured_store
from gateway.store.api import Store
from gateway.sync.status import SyncStatus, export_statuses, sync_links
from gateway.translate import make_envelope, translate
from gateway.transport import AiohttpTransport, Transport
from gateway.wire.base import InboundHandler, PlatformClient
from gateway.wire.registry import load_platform_link, platform_client, platform_endpoint
from signing.keys import SigningKey
from signing.secret import Secret

from .admin import admin_routes, ensure_admin_token
from .edge import api_refusal_middleware, partner_edge_middleware
from .endpoints import endpoint_routes, read_body
from .handlers import PartnerHandler, consent_keys_of
from .keys import CLOCK, CONFIG, METRICS, MSGLOG, SERVER_TLS, STORE, WORKER
from .limits import OWN_TIME_LIMIT, TokenBucket, time_limit_middleware
from .operations import (
    MeteredHandler,
    background,
    delivery_observer,
    link_certificates,
    metrics_route,
    readiness_checks,
    readiness_route,
)
from .problems import problem_middleware, problem_response
from .published import gateway_public_keys, published_routes
from .reload import RATE_BUCKETS
from .shutdown import shutdown_budget

__all__ = ["CONFIG", "METRICS", "MSGLOG", "STORE", "WORKER", "create_app"]

TRANSLATE_BODY_LIMIT = 10 * 1024 * 1024  # the largest dialect limit (g60, 10 MiB); each adapter checks its own


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def translate_handler(request: web.Request) -> web.Response:
    """``POST /v1/translate?from=SRC&to=DST&type=TYPE``: the operators' mapping check over HTTP.

    The whole body is read (issue 11 item 5: not only what had arrived so far), at most one byte past the source
    dialect's limit, within the server's ``request_timeout`` (the app-wide time limit).
    """
    config = request.app[CONFIG]
    params = request.rel_url.query
    missing = [name for name in ("from", "to", "type") if not params.get(name)]
    if missing:
        raise Refusal(C.MISSING_FIELD, missing[0], "query parameters from, to and type are required")
    registry = config.registry
    try:
        dst_dialect, dst_platform = registry.resolve(params["to"])
        src_dialect, _ = registry.resolve(params["from"])
    except ConfigError as exc:
        return problem_response(
            {
                "type": PROBLEM_TYPE_BASE + "UNKNOWN_PLATFORM",
                "title": "Unknown dialect or platform",
                "status": 400,
                "code": "UNKNOWN_PLATFORM",
                "detail": exc.problem,
            }
        )
    # the one body policy (endpoints.read_body), within the app-wide time limit (limits.time_limit_middleware)
    body = await read_body(request, registry.adapter(src_dialect).body_limit)
    envelope = make_envelope(dst_platform, datetime.fromtimestamp(request.app[CLOCK](), UTC))
    out = translate(registry, params["from"], params["to"], params["type"], body, envelope)
    return web.Response(body=out, content_type=registry.adapter(dst_dialect).content_type.split(";")[0])


@asynccontextmanager
async def _store(config: Config, given: Store | None) -> AsyncIterator[Store]:
    """The store, payloads sealed at rest (gateway.sealed_store); closed on the way out unless the caller gave it."""
    opened = await open_configured_store(config, given)
    try:
        yield opened
    finally:
        if given is None:
            await opened.close()


@asynccontextmanager
async def _message_log(config: Config, now: Callable[[], float]) -> AsyncIterator[MessageLog | None]:
    """The message log (None without ``[message_log]``), sealed once more and closed on the way out."""
    log = await open_configured_log(config)
    try:
        yield log
    finally:
        if log is not None:
            await log.seal(now())
            await log.close()


@asynccontextmanager
async def _transport(given: Transport | None) -> AsyncIterator[Transport]:
    """The outbound transport; one the gateway made itself is closed on the way out."""
    owned = AiohttpTransport() if given is None else None
    try:
        yield owned or given  # type: ignore[misc]
    finally:
        if owned is not None:
            await owned.close()


async def create_app(
    config: Config,
    *,
    clock: Callable[[], float] | None = None,
    transport: Transport | None = None,
    store: Store | None = None,
    run_workers: bool = True,
    metrics_registry: CollectorRegistry | None = None,
) -> web.Application:
    """Build the gateway from its configuration; tests pass their own clock, transport, store or registry.

    Wiring in three steps, in the order things depend on each other (issue 13 item 6): what the configuration alone
    decides (links, the mutual-TLS listener, keys: refused here before anything is opened); the store, the message
    log and the outbound transport, opened in one ``AsyncExitStack`` that the app's lifecycle closes; then the
    business parts and the routes over what is open. The delivery worker starts with the server and stops first.
    """
    now = clock or time.time
    registry = config.registry
    links = gateway_link_settings(registry, config.base_dir, config.dev_credentials, config.source)
    loaded: dict[str, Any] = {}
    for pid, platform in registry.platforms.items():
        link_settings: LinkSettings = links[pid]
        loaded[pid] = load_platform_link(platform, link_settings.settings, link_settings.base)
    server_tls = _server_tls(config, loaded)
    token = ensure_admin_token(config)
    seals = []
    if config.message_log is not None:
        ensure_message_log_keys(
            None if config.message_log.key_env else config.message_log.key_file,
            config.message_log.seal_key_file,
            config.dev_credentials is not None,
        )
        seals.append(seal_key(config))
    # the catalogue links expected to sync (a misspelt [sync] link is refused here, before anything is opened)
    expected_syncs = sync_links(config.raw, config.source, registry.platforms)

    resources = AsyncExitStack()  # closed in reverse: the transport, the message log, the store
    try:
        opened = await resources.enter_async_context(_store(config, store))
        log = await resources.enter_async_context(_message_log(config, now))
        inner_transport = await resources.enter_async_context(_transport(transport))
        app = _wired(
            config,
            now,
            opened,
            log,
            inner_transport,
            resources,
            loaded,
            server_tls,
            token,
            seals,
            expected_syncs,
            run_workers,
            metrics_registry,
        )
    except BaseException:  # nothing stays open behind an application that was never returned
        await resources.aclose()
        raise
    if config.console.port is not None:  # [console]: the operators' browser console, on a listener of its own
        from gateway.console import console_listener  # noqa: PLC0415 (the console imports the server's keys)

        app.cleanup_ctx.append(console_listener(app, config.console))
    return app


def _wired(
    config: Config,
    now: Callable[[], float],
    opened: Store,
    log: MessageLog | None,
    inner_transport: Transport,
    resources: AsyncExitStack,
    loaded: dict[str, Any],
    server_tls: ssl.SSLContext | None,
    token: Secret | None,
    seals: list[SigningKey],
    expected_syncs: tuple[tuple[str, str], ...],
    run_workers: bool,
    metrics_registry: CollectorRegistry | None,
) -> web.Application:
    """The business parts and the routes over the open store, message log and transport (``resources`` is closed
    by the application's lifecycle, after the worker and the background jobs have stopped)."""
    registry = config.registry
    # the message log is an explicit observer: of outbound calls through the transport wrapper (each client passes
    # what a request is about to ``send``), of verified inbound calls through the handler wrapper; without a log
    # neither wrapper is there
    outbound: Transport = inner_transport if log is None else RecordingTransport(inner_transport, log, now)
    clients: dict[str, PlatformClient] = {}
    for pid, platform in registry.platforms.items():
        base_url = str(platform.settings.get("base_url", ""))
        clients[pid] = platform_client(registry, platform, loaded[pid], outbound, now, base_url)

    certificates = link_certificates(loaded)
    metrics = GatewayMetrics(
        metrics_registry or CollectorRegistry(),
        platforms=list(registry.platforms),
        destinations=list(registry.platforms),
        key_ids=[k for _, k, _ in certificates],
    )
    settings = config.delivery_settings()
    breakers = BreakerRegistry(settings.breaker, clock=now)
    breakers.on_change = metrics.set_breaker  # the gauge changes when the breaker does (half-open lasts one probe)
    worker = DeliveryWorker(
        opened,
        clients,
        owner=f"{socket.gethostname()}-{secrets.token_hex(4)}",
        clock=now,
        policies=settings.per_destination,
        default_policy=settings.default,
        breakers=breakers,
        settings=settings.worker,
        on_outcome=delivery_observer(metrics, now),
    )
    intake = Intake(registry, opened, Router(registry, config.routes), now, on_accepted=worker.kick)
    licences = LicenceService(
        registry, clients, ConsentVerifier(consent_keys_of(loaded)), now, opened.remember_nonce, opened.forget_nonce
    )
    handler: InboundHandler = MeteredHandler(PartnerHandler(intake, licences), metrics)
    if log is not None:
        handler = RecordingHandler(log, handler, now)

    # problem+json rendering outermost, then the request id and trace context for everything inside
    app = web.Application(
        middlewares=[
            problem_middleware,
            trace_middleware(),  # type: ignore[list-item]
            time_limit_middleware(config.server.request_timeout),
        ],
        client_max_size=TRANSLATE_BODY_LIMIT + 1,
    )
    app[CONFIG] = config
    app[CLOCK] = now
    app[METRICS] = metrics
    app[SERVER_TLS] = server_tls
    app[STORE] = opened
    app[WORKER] = worker
    if log is not None:
        app[MSGLOG] = log
    app.middlewares.append(api_refusal_middleware(metrics))  # inside the trace middleware: logged with its ids
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/v1/translate", translate_handler)
    # the catalogue links expected to sync: exported from the store's saved status (0 until one ran)
    export_statuses(metrics, [SyncStatus(source, target) for source, target in expected_syncs])
    app.router.add_routes([metrics_route(metrics)])
    app[RATE_BUCKETS] = _mount_partners(app, config, loaded, metrics, StoreReplayGuard(opened), handler, now)
    app.add_routes(admin_routes(token))
    app.add_routes(published_routes(gateway_public_keys(loaded, seals)))
    checks = readiness_checks(lambda: opened, metrics, certificates, bool(loaded), now)
    app.router.add_routes([readiness_route(checks)])

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with resources:  # opened above; closed after the worker and the background jobs have stopped
            task = asyncio.create_task(worker.run()) if run_workers else None
            stop = asyncio.Event()
            seal_every = config.message_log.seal_interval if config.message_log else 60.0
            gauges = asyncio.create_task(
                background(
                    opened,
                    breakers,
                    metrics,
                    list(registry.platforms),
                    log,
                    seal_every,
                    now,
                    stop,
                    certificates=certificates,
                    sync_links=expected_syncs,
                )
            )
            retention = RetentionJob(
                opened, config.retention, now, msglog=log, metrics=RetentionMetrics(metrics.registry)
            )
            purging = asyncio.create_task(retention.run(stop), name="retention")
            try:
                yield
            finally:
                stop.set()
                await worker.stop(grace=shutdown_budget(config.server.shutdown_grace))  # the first call's, if any
                if task is not None:
                    await asyncio.gather(task, return_exceptions=True)  # cancelled when it outlived the grace
                await gauges
                await purging

    app.cleanup_ctx.append(lifecycle)
    return app


def _server_tls(config: Config, loaded: dict[str, Any]) -> ssl.SSLContext | None:
    """The mutual-TLS listener's context (``[server] tls_platform``: a platform whose scheme needs it), or None."""
    tls_platform = config.server.tls_platform
    if tls_platform is None:
        return None
    if tls_platform not in loaded:
        raise ConfigError(config.source, "server.tls_platform", f"{tls_platform!r} is not a configured platform")
    server_ssl_context = dialect(config.registry.platforms[tls_platform].dialect).server_ssl_context
    if server_ssl_context is None:
        raise ConfigError(config.source, "server.tls_platform", f"{tls_platform!r} does not use mutual TLS")
    return server_ssl_context(loaded[tls_platform])


def _mount_partners(
    app: web.Application,
    config: Config,
    loaded: dict[str, Any],
    metrics: GatewayMetrics,
    replay: StoreReplayGuard,
    handler: InboundHandler,
    now: Callable[[], float],
) -> dict[str, TokenBucket]:
    """Each platform's documented routes under ``/partners/<id>/``, behind its edge middleware; the rate buckets
    (retuned in place by a reload, reload.py)."""
    registry = config.registry
    buckets: dict[str, TokenBucket] = {}
    for pid, platform in registry.platforms.items():
        declared = dialect(platform.dialect)
        rate = float(platform.settings.get("rate_limit", declared.documented_rate))
        buckets[pid] = bucket = TokenBucket(rate)
        # issue 11 item 12: a scheme that needs the client certificate (g60.md §1) is served on the mutual-TLS
        # listener only; elsewhere it is refused before its body is read
        edge = partner_edge_middleware(
            metrics, pid, bucket, config.server.request_timeout, platform.dialect, mtls_only=declared.needs_mutual_tls
        )
        partner = web.Application(middlewares=[edge])  # the body is read by endpoints.read_body, under its limit
        partner[OWN_TIME_LIMIT] = config.server.request_timeout  # the edge's: the app-wide limit adds no timer
        partner.add_routes(endpoint_routes(platform_endpoint(registry, platform, loaded[pid], now, replay, handler)))
        app.add_subapp(f"/partners/{pid}/", partner)
    return buckets
