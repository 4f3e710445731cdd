"""Issue 15: a hunan partner behind a round-robin balancer over two gateway instances (no affinity) gets its
bearer token from one instance and has it accepted by the other (hunan.md §2), on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pipeline_stack import StackFactory, sample

from adapters.wire import HttpRequest
from gateway.transport import AiohttpTransport


async def balancer(
    backends: list[str], transport: AiohttpTransport, served: Counter[str]
) -> tuple[TestServer, Callable[[], str]]:
    """A loopback HTTP balancer: each request goes to the next backend, the Host header kept as the client sent it
    (what an ingress without session affinity does)."""
    turn = itertools.cycle(backends)

    async def forward(request: web.Request) -> web.Response:
        backend = next(turn)
        served[backend] += 1
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("content-length",)}
        answer = await transport.send(
            HttpRequest(request.method, backend + request.path_qs, headers, await request.read())
        )
        keep = {
            k: v
            for k, v in answer.headers.items()
            if k not in ("content-length", "transfer-encoding", "connection", "content-encoding")
        }
        return web.Response(status=answer.status, body=answer.body, headers=keep)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server, lambda: str(server.make_url("")).rstrip("/")


@pytest.fixture
async def forwarding() -> AsyncIterator[AiohttpTransport]:
    transport = AiohttpTransport()
    yield transport
    await transport.close()


async def test_a_token_from_one_instance_is_accepted_by_another(
    store_url: str, make_stack: StackFactory, samples_dir: Path, forwarding: AiohttpTransport
) -> None:
    stack = await make_stack(store_url)
    _, second_url = await stack.add_gateway(run_workers=False)
    served: Counter[str] = Counter()
    server, url = await balancer([stack.gateway_url, second_url], forwarding, served)
    try:
        client = stack.partner_client("changsha", url())
        case = sample(stack.config, samples_dir, "hunan", "case", "SC001.json")
        answers = [await client.submit("case", case, f"m-{i}") for i in range(4)]
    finally:
        await server.close()
    assert not answers[0].repeated and all(a.repeated for a in answers[1:])
    assert client.token_fetches == 1  # type: ignore[attr-defined]  # one token, honoured by both instances
    assert served == {stack.gateway_url: 3, second_url: 2}  # the token call and two submissions, then two
