"""The console's edge: refusals rendered once, security headers, the session and the CSRF check.

Middleware order (fixed in :func:`gateway.console.app.create_console`), outermost first:

1. ``headers``: a strict Content-Security-Policy (no script at all, styles from the console only, no framing, forms
   post to the console only) and the usual hardening headers on every answer, refusals and redirects included;
2. ``refusals``: a :class:`ConsoleRefusal` raised anywhere inside becomes one page (or RFC 9457 problem+json when
   the client asks for JSON) with its stable code, counted in ``tongban_console_refusals_total{code}`` and logged
   once with the code and the path, never a submitted value;
3. ``sessions``: the signed-in operator (``request[SESSION]``); a page without one redirects to the login page, a
   POST without one is refused;
4. ``csrf``: every POST carries the session's CSRF token in the form field ``csrf`` (the login form: the value of
   its own ``tb_login`` cookie, double-submit), compared in constant time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from gateway.errors import PROBLEM_TYPE_BASE, GatewayError

from .auth import Session, SessionBook, may

__all__ = [
    "CSP",
    "LOGIN_COOKIE",
    "REFUSAL_CODES",
    "SESSION",
    "SESSION_COOKIE",
    "ConsoleRefusal",
    "RefusalCounter",
    "csrf_middleware",
    "headers_middleware",
    "refusal_middleware",
    "require",
    "session_middleware",
]

log = logging.getLogger("gateway.console")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION: web.RequestKey[Session | None] = web.RequestKey("console_session")
SESSION_COOKIE: Final = "tb_console"
LOGIN_COOKIE: Final = "tb_login"
CSP: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: the console's stable refusal codes (a closed set: they are metric label values)
REFUSAL_CODES: Final = (
    "LOGIN_REQUIRED",
    "LOGIN_FAILED",
    "LOGIN_THROTTLED",
    "FORBIDDEN",
    "CSRF_INVALID",
    "NOT_FOUND",
    "NOT_DEAD",
    "BAD_QUERY",
    "NO_MESSAGE_LOG",
    "ACCOUNT_EXISTS",
)
_OPEN_PATHS: Final = frozenset({"/console/login"})


class ConsoleRefusal(GatewayError):
    """A request the console will not carry out: an HTTP status, a stable code and a detail without user data."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        if code not in REFUSAL_CODES:
            raise ValueError(f"{code!r} is not a console refusal code")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


class RefusalCounter:
    """``tongban_console_refusals_total{code}`` on the gateway's registry, every code from 0."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "tongban_console_refusals", "Console requests refused, by code", ["code"], registry=registry
        )
        for code in REFUSAL_CODES:
            self.counter.labels(code=code)

    def count(self, code: str) -> None:
        self.counter.labels(code=code).inc()


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "json" in accept and "text/html" not in accept


def refusal_middleware(counter: RefusalCounter, render: Callable[[web.Request, ConsoleRefusal], web.Response]) -> Any:
    @web.middleware
    async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConsoleRefusal as refusal:
            counter.count(refusal.code)
            log.warning("console refusal", extra={"code": refusal.code, "path": request.path, "status": refusal.status})
            if _wants_json(request):
                body = {
                    "type": PROBLEM_TYPE_BASE + refusal.code,
                    "title": refusal.detail,
                    "status": refusal.status,
                    "code": refusal.code,
                }
                response = web.json_response(body, status=refusal.status, content_type="application/problem+json")
            else:
                response = render(request, refusal)
            response.headers.update(refusal.headers)
            return response

    return refusals


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and aiohttp's own 404/405 carry the headers too
        exc.headers.update(_HEADERS)
        raise
    response.headers.update(_HEADERS)
    return response


def session_middleware(book: SessionBook) -> Any:
    @web.middleware
    async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
        session = await book.find(request.cookies.get(SESSION_COOKIE))
        request[SESSION] = session
        if session is None and request.path not in _OPEN_PATHS and not request.path.startswith("/console/static/"):
            if request.method in ("GET", "HEAD") and not _wants_json(request):
                raise web.HTTPSeeOther("/console/login")
            raise ConsoleRefusal(401, "LOGIN_REQUIRED", "log in first")
        return await handler(request)

    return sessions


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST":
        form = await request.post()
        given = form.get("csrf")
        given_text = given if isinstance(given, str) else None
        session: Session | None = request[SESSION]
        if session is not None:
            ok = session.csrf_ok(given_text)
        else:  # the login form: double-submit of its own cookie
            cookie = request.cookies.get(LOGIN_COOKIE)
            ok = cookie is not None and given_text is not None and Session("", "", "", cookie).csrf_ok(given_text)
        if not ok:
            raise ConsoleRefusal(403, "CSRF_INVALID", "the form's CSRF token is missing or wrong; reload the page")
    return await handler(request)


def require(request: web.Request, role: str) -> Session:
    """The session, if its role grants ``role``; else a 403 refusal."""
    session: Session | None = request[SESSION]
    if session is None:
        raise ConsoleRefusal(401, "LOGIN_REQUIRED", "log in first")
    if not may(session.role, role):
        raise ConsoleRefusal(403, "FORBIDDEN", f"this needs the {role} role")
    return session
