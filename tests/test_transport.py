"""The one outbound transport: failures mapped once, and the W3C trace context carried to the next hop."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.wire import HttpRequest
from gateway.delivery import ConnectionFailed
from gateway.observability.context import bind_request
from gateway.observability.tracing import new_traceparent, parse_traceparent
from gateway.transport import AiohttpTransport


async def test_the_trace_context_goes_to_the_next_hop() -> None:
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/x", echo)
    transport = AiohttpTransport()
    async with TestServer(app, host="127.0.0.1") as server:
        incoming = new_traceparent()
        with bind_request(traceparent=incoming.header()):
            answer = await transport.send(HttpRequest("POST", str(server.make_url("/x")), {}, b"ping"))
        await transport.send(HttpRequest("POST", str(server.make_url("/x")), {}, b"outside any request"))
    await transport.close()
    assert answer.status == 200
    assert answer.body == b"ping"
    inside, outside = (parse_traceparent(v) for v in seen)
    assert inside.trace_id == incoming.trace_id  # the same trace, one hop further
    assert inside.parent_id != incoming.parent_id
    assert outside.trace_id != incoming.trace_id  # a call outside any request starts a trace of its own


async def test_a_refused_connection_is_a_transient_failure() -> None:
    transport = AiohttpTransport()
    with pytest.raises(ConnectionFailed):
        await transport.send(HttpRequest("POST", "http://127.0.0.1:9/", {}, b"x"), timeout=5)
    await transport.close()
