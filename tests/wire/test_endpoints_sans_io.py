"""Every dialect's endpoint as a value function: a signed request value in, the signed answer value out, no server.

The request is the one the dialect's real ``Client`` signs (captured by ``FakeTransport``), handed to the endpoint's
``Route.handle`` as the server edge would hand it (lower-case headers, path parameters, the mutual-TLS peer); the
answer goes back to the same client, which verifies its signature and reads it. Beside the loopback tests of each
dialect (tests/wire/test_<dialect>.py), which run the same endpoints behind the one aiohttp adapter.

The adapter's body policy (gateway/server/endpoints.py) is tested at the end, on a loopback server: a declared
length over the limit, a chunked body growing past it, a body at the limit arriving in pieces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from adapters.anhui import roles as anhui
from adapters.g60 import roles as g60
from adapters.g60.scheme import receipt_message_id
from adapters.hunan import roles as hunan
from adapters.shanghai import roles as shanghai
from adapters.wire import HttpRequest, HttpResponse, lower_headers
from adapters.zlb import roles as zlb
from gateway.dialects import dialect as declared
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.server.endpoints import endpoint_routes
from gateway.transport import FakeTransport
from gateway.wire.base import Accepted, InboundCall, InboundResult, PlatformEndpoint, Route, WireContext
from signing.replay import InMemoryReplayGuard

#: dialect → (a platform speaking it, its roles module, its case sample)
DIALECTS: dict[str, tuple[str, ModuleType, str]] = {
    "anhui": ("hefei", anhui, "SC001.json"),
    "g60": ("g60", g60, "SC001.xml"),
    "zlb": ("ningbo", zlb, "SC001.json"),
    "hunan": ("changsha", hunan, "SC001.json"),
    "shanghai": ("songjiang", shanghai, "SC001.xml"),
}
BASE = "https://platform.test/partners/here"
Dispatch = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _match(pattern: str, path: str) -> dict[str, str] | None:
    """A route pattern's ``{name}`` segments against a path, as the server's router matches them."""
    want, got = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith("{") and w.endswith("}") and g:
            params[w[1:-1]] = g
        elif w != g:
            return None
    return params


def dispatcher(endpoint: PlatformEndpoint, peer: Any = None) -> Dispatch:
    """What the server edge does, minus the socket: the body is already whole, headers lower-case, the route
    matched; ``peer`` is the client certificate a mutual-TLS handshake would have verified."""
    routes: list[Route] = endpoint.routes()

    async def dispatch(request: HttpRequest) -> HttpResponse:
        path = request.path.removeprefix("/partners/here")
        for route in routes:
            params = _match(route.path, path)
            if route.method == request.method and params is not None:
                served = dataclasses.replace(
                    request, headers=lower_headers(request.headers), params=params, peer_certificate=peer, tls=None
                )
                return await route.handle(served)
        return HttpResponse(404)

    return dispatch


@dataclasses.dataclass
class Pair:
    """A dialect's endpoint (the platform's side of the link) and a client of it (the gateway's side)."""

    endpoint: PlatformEndpoint
    calls: list[InboundCall]
    client_of: Callable[[Dispatch], Any]
    dispatch: Dispatch
    record: Any


@pytest.fixture(params=sorted(DIALECTS))
def pair(request: pytest.FixtureRequest, tmp_path: Path, registry: Any, samples_dir: Path) -> Pair:
    dialect = request.param
    pid, roles, sample = DIALECTS[dialect]
    platform = registry.platforms[pid]
    adapter = registry.adapter(dialect)
    gw_side, pf_side = roles.generate_link(tmp_path, platform)
    calls: list[InboundCall] = []

    async def handler(call: InboundCall) -> InboundResult:
        calls.append(call)
        return Accepted(f"R-{len(calls)}")

    ctx = WireContext(platform, roles.load_link(pf_side, tmp_path), adapter, time.time)
    endpoint = roles.Endpoint(ctx, InMemoryReplayGuard(), handler)
    peer = None
    if dialect == "g60":  # g60.md §1: the caller is the certificate of its mutual-TLS handshake
        peer = x509.load_pem_x509_certificate((tmp_path / gw_side["tls_cert"]).read_bytes())
    gw_link = roles.load_link(gw_side, tmp_path)

    def client_of(dispatch: Dispatch) -> Any:
        return roles.Client(WireContext(platform, gw_link, adapter, time.time, BASE), FakeTransport(dispatch))

    record = adapter.decode("case", (samples_dir / dialect / "case" / sample).read_bytes())
    return Pair(endpoint, calls, client_of, dispatcher(endpoint, peer), record)


def _is_submission(request: HttpRequest, pair: Pair) -> bool:
    return pair.record.case_no.encode("ascii") in request.body


async def test_a_signed_case_in_gives_a_signed_receipt_out(pair: Pair, request: pytest.FixtureRequest) -> None:
    """The client's signed request value, verified by the endpoint, reaches the handler with its evidence headers;
    the endpoint's signed receipt is verified and read by the client."""
    dialect = request.node.callspec.params["pair"]
    accepted = await pair.client_of(pair.dispatch).submit("case", pair.record, "m-sans-io-1")
    if dialect == "g60":  # g60.md §7: the receipt is a message of its own, named from the platform's code
        assert accepted.receipt_no == receipt_message_id(pair.endpoint.ctx.link.code, "R-1")
    elif dialect == "hunan":  # hunan.md §1: the receipt names the case and when it was first accepted
        assert accepted.receipt_no.startswith(f"{pair.record.case_no}@")
    else:
        assert accepted.receipt_no == "R-1"
    [call] = pair.calls
    assert (call.operation, call.record.case_no) == ("case", pair.record.case_no)
    # the message log's evidence (the headers the dialect declares; g60 signs inside the body), handed over with it
    assert set(declared(dialect).evidence_headers) <= set(call.headers)


async def test_a_tampered_body_gives_a_signed_refusal_value(pair: Pair) -> None:
    """One byte of the signed body changed: the endpoint answers its own signed refusal, which the client reads as
    a permanent refusal with the README §10 code; the handler never sees the call."""
    case_no = pair.record.case_no.encode("ascii")
    forged = case_no[:-1] + (b"1" if case_no[-1:] != b"1" else b"2")

    async def tamper(request: HttpRequest) -> HttpResponse:
        if _is_submission(request, pair):
            request = dataclasses.replace(request, body=request.body.replace(case_no, forged, 1))
        return await pair.dispatch(request)

    with pytest.raises(Refusal) as err:
        await pair.client_of(tamper).submit("case", pair.record, "m-sans-io-2")
    assert err.value.code in {"SIGNATURE_INVALID", "AUTH_FAILED"}
    assert pair.calls == []


async def test_the_edge_refusal_is_the_dialects_own_signed_answer(pair: Pair) -> None:
    """What the edge refuses before the route (a body over the limit) is rendered by the endpoint, signed in the
    dialect's form: the dialect's own client reads it as BODY_TOO_LARGE."""

    async def too_large(request: HttpRequest) -> HttpResponse:
        if _is_submission(request, pair):
            bare = dataclasses.replace(request, headers=lower_headers(request.headers), body=b"", tls=None)
            return pair.endpoint.refuse(bare, Refusal(C.BODY_TOO_LARGE, None, "body over the limit"))
        return await pair.dispatch(request)

    with pytest.raises(Refusal) as err:
        await pair.client_of(too_large).submit("case", pair.record, "m-sans-io-3")
    assert err.value.code == "BODY_TOO_LARGE"
    assert pair.calls == []


# --- the one aiohttp adapter's body policy ------------------------------------------------------------------------
LIMIT = 64


class Echo(PlatformEndpoint):
    """A minimal endpoint: echoes the body it was handed; refuses in a form of its own (``413 CODE``)."""

    @property
    def body_limit(self) -> int:
        return LIMIT

    def routes(self) -> list[Route]:
        return [Route("POST", "/echo/{name}", self._echo)]

    async def _echo(self, request: HttpRequest) -> HttpResponse:
        seen = f"{request.params['name']} {request.header('x-probe')} {request.client is not None}"
        return HttpResponse(200, {"content-type": "text/plain", "x-seen": seen}, request.body)

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        self.refused.append(rejection.code.value)
        return HttpResponse(rejection.http_status, {"content-type": "text/plain"}, rejection.code.value.encode())

    refused: list[str]


@pytest.fixture
async def echo(registry: Any) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Echo]]:
    endpoint = Echo(
        WireContext(registry.platforms["hefei"], None, registry.adapter("anhui"), time.time),
        InMemoryReplayGuard(),
        _never,
    )
    endpoint.refused = []
    app = web.Application()
    app.add_routes(endpoint_routes(endpoint))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield client, endpoint


async def _never(call: InboundCall) -> InboundResult:
    raise AssertionError("the echo endpoint has no business handler")


async def test_a_body_at_the_limit_arriving_in_pieces_is_read_whole(
    echo: tuple[TestClient[web.Request, web.Application], Echo],
) -> None:
    client, endpoint = echo

    async def pieces() -> AsyncIterator[bytes]:
        for part in (b"a" * 30, b"b" * 34):
            yield part
            await asyncio.sleep(0.01)

    resp = await client.post("/echo/x", data=pieces(), headers={"X-Probe": "p"})
    assert (resp.status, await resp.read()) == (200, b"a" * 30 + b"b" * 34)
    assert resp.headers["x-seen"] == "x p True"  # path parameters, lower-case headers, the client's address
    assert endpoint.refused == []


async def test_a_declared_length_over_the_limit_is_refused_in_the_endpoints_form(
    echo: tuple[TestClient[web.Request, web.Application], Echo],
) -> None:
    client, endpoint = echo
    resp = await client.post("/echo/x", data=b"z" * (LIMIT + 1))
    assert (resp.status, await resp.read()) == (413, b"BODY_TOO_LARGE")
    assert endpoint.refused == ["BODY_TOO_LARGE"]


async def test_a_chunked_body_growing_past_the_limit_is_refused_there(
    echo: tuple[TestClient[web.Request, web.Application], Echo],
) -> None:
    """No Content-Length: the adapter reads one byte past the limit, no further, and refuses."""
    client, endpoint = echo

    async def growing() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"c" * 40
            await asyncio.sleep(0.01)

    resp = await client.post("/echo/x", data=growing())
    assert (resp.status, await resp.read()) == (413, b"BODY_TOO_LARGE")
    assert endpoint.refused == ["BODY_TOO_LARGE"]


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("http://h/kstb/v1/case/submit", {}),
        ("http://h/catalog/items?", {}),
        ("http://h/catalog/items?pageNo=2&updatedSince=", {"pageNo": "2", "updatedSince": ""}),
        ("http://h/catalog/items#x?pageNo=2", {}),
        ("http://h/catalog/items?a=%E5%90%88&a=2", {"a": "2"}),
    ],
)
def test_a_request_value_reads_its_query_as_the_url_says(url: str, query: dict[str, str]) -> None:
    """``HttpRequest.query`` skips splitting a URL without ``?`` (every record POST); the rest are parsed as before."""
    assert HttpRequest("GET", url).query == query
