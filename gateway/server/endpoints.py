"""The one adapter between aiohttp and the sans-IO endpoints: an aiohttp request in, an ``HttpRequest`` value to the
endpoint's route, its ``HttpResponse`` written back.

Why one: the endpoints of the five dialects each read the body themselves, with five policies (one drained four
times the limit, one read one byte past it and let the codec refuse, others refused at the limit), and could only be
tested through a server (issue 13 item 2). Now a route is ``handle(HttpRequest) -> HttpResponse``; the gateway's
partner routes and the simulators mount it here, a unit test calls it directly.

The body policy, one for every dialect and for ``/v1/translate`` (``read_body``; docs/decisions.md "One body
limit"): the limit is the dialect's (``adapter.body_limit``: anhui.md §5, zlb.md §5, ...);

1. a declared ``Content-Length`` beyond it is refused before a byte of the body is read;
2. otherwise the body is read as it arrives (however many segments it comes in, issue 11 item 5), and no further
   than one byte past the limit: a chunked body without ``Content-Length`` that grows past it is refused there;
3. the refusal is ``BODY_TOO_LARGE`` in the dialect's own form, signed (``PlatformEndpoint.refuse``); what the
   caller still sends is aiohttp's to discard (its lingering close reads and drops it for a bounded time, so the
   caller reads the refusal rather than a reset connection). Nothing drains past the limit.

The whole read happens inside the edge's time limit (``edge.py``): a body that trickles in is answered 408.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.wire import HttpRequest, HttpResponse
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.wire.base import PlatformEndpoint, Route
from signing import tls
from signing.errors import SigningError

__all__ = ["endpoint_routes", "read_body", "to_http_request", "to_web_response", "too_large"]

_CHUNK = 65536


def too_large(limit: int) -> Refusal:
    return Refusal(C.BODY_TOO_LARGE, None, f"body is larger than {limit} bytes")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, read once under ``limit`` (the module docstring's policy); ``BODY_TOO_LARGE`` past it.

    ``request.content.read(n)`` returns what is buffered now, up to ``n``: it is called until the end of the body,
    never asked for more than one byte past the limit in all.
    """
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)


def _headers(request: web.Request) -> dict[str, str]:
    """Lower-case names; of a repeated header the first, as ``request.headers.get`` gave the endpoints before."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), value)
    return headers


def _peer_certificate(request: web.Request) -> object:
    """The client certificate the mutual-TLS handshake verified (g60.md §1), None on a plain connection."""
    try:
        return tls.peer_certificate(request.transport)
    except SigningError:  # unreadable: the endpoint sees no certificate and refuses the caller as unknown
        return None


def to_http_request(request: web.Request, body: bytes) -> HttpRequest:
    """The request as the endpoint sees it: the URL as the client used it (scheme, ``Host``, raw path and query:
    hunan.md §3 signs ``@target-uri``), lower-case headers, the path parameters, the TLS peer, the client address."""
    return HttpRequest(
        request.method,
        f"{request.scheme}://{request.host}{request.raw_path}",
        _headers(request),
        body,
        params=dict(request.match_info),
        peer_certificate=_peer_certificate(request),
        client=request.remote,
    )


def to_web_response(response: HttpResponse) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=dict(response.headers))


def _handler(endpoint: PlatformEndpoint, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    limit = endpoint.body_limit

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, limit)
        except Refusal as exc:
            return to_web_response(endpoint.refuse(to_http_request(request, b""), exc))
        return to_web_response(await route.handle(to_http_request(request, body)))

    return handle


def endpoint_routes(endpoint: PlatformEndpoint) -> list[web.RouteDef]:
    """The endpoint's routes as aiohttp route definitions, relative to where they are mounted."""
    routes: list[web.RouteDef] = []
    for route in endpoint.routes():
        handler = _handler(endpoint, route)
        if route.method == "GET":
            routes.append(web.get(route.path, handler, allow_head=route.allow_head))
        else:
            routes.append(web.route(route.method, route.path, handler))
    return routes
