"""The application factory and its operator-facing routes.

Middleware order is fixed here: problem+json rendering outermost. Application state lives under ``AppKey``s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from gateway.config import Config
from gateway.errors import PROBLEM_TYPE_BASE, ConfigError, Rejection
from gateway.errors import RejectionCode as C
from gateway.translate import make_envelope, translate

from .problems import problem_middleware, problem_response

__all__ = ["CONFIG", "create_app"]

CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
TRANSLATE_BODY_LIMIT = 10 * 1024 * 1024  # the largest dialect limit (g60, 10 MiB); each adapter checks its own


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def translate_handler(request: web.Request) -> web.Response:
    """``POST /v1/translate?from=SRC&to=DST&type=TYPE``: the operators' mapping check over HTTP."""
    config = request.app[CONFIG]
    params = request.rel_url.query
    missing = [name for name in ("from", "to", "type") if not params.get(name)]
    if missing:
        raise Rejection(C.MISSING_FIELD, missing[0], "query parameters from, to and type are required")
    if request.content_length is not None and request.content_length > TRANSLATE_BODY_LIMIT:
        raise Rejection(C.BODY_TOO_LARGE, None, f"body is larger than {TRANSLATE_BODY_LIMIT} bytes")
    body = await request.content.read(TRANSLATE_BODY_LIMIT + 1)
    registry = config.registry
    try:
        dst_dialect, dst_platform = registry.resolve(params["to"])
        registry.resolve(params["from"])
    except ConfigError as exc:
        return problem_response(
            {"type": PROBLEM_TYPE_BASE + "UNKNOWN_PLATFORM", "title": "Unknown dialect or platform", "status": 400,
             "code": "UNKNOWN_PLATFORM", "detail": exc.problem}
        )
    envelope = make_envelope(dst_platform, request.app[CLOCK]())
    out = translate(registry, params["from"], params["to"], params["type"], body, envelope)
    return web.Response(body=out, content_type=registry.adapter(dst_dialect).content_type.split(";")[0])


def create_app(config: Config, *, clock: Callable[[], datetime] | None = None) -> web.Application:
    """Build the gateway application from its configuration (no globals; tests pass their own parts)."""
    app = web.Application(middlewares=[problem_middleware], client_max_size=TRANSLATE_BODY_LIMIT + 1)
    app[CONFIG] = config
    app[CLOCK] = clock or _utc_now
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/v1/translate", translate_handler)
    return app
