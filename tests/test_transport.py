"""The one outbound transport: failures mapped once, and the W3C trace context carried to the next hop."""

from __future__ import annotations

import asyncio
import random
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.wire import HttpRequest
from gateway.delivery import ConnectionFailed
from gateway.delivery.outcomes import DeliveryTimeout, TransientDeliveryError, Undeliverable
from gateway.delivery.policy import DeadLetter, RetryPolicy, next_action
from gateway.delivery.retrying import send_with_short_retries
from gateway.errors import Refusal
from gateway.observability.context import bind_request
from gateway.observability.tracing import new_traceparent, parse_traceparent
from gateway.transport import (
    DESTINATION_MISCONFIGURED,
    TRANSPORT_ERRORS,
    AiohttpTransport,
    DestinationMisconfigured,
    Fate,
    mapped_error,
)
from signing import devpki


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


# --- the table from transport exceptions to transient / permanent / configuration (issue 13 item 4) ---------------
def _aiohttp_client_errors() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [aiohttp.ClientError]
    while todo:
        cls = todo.pop()
        if cls not in found and cls.__module__.startswith("aiohttp"):
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return found


def test_every_aiohttp_client_exception_class_is_in_the_table() -> None:
    classes = _aiohttp_client_errors()
    assert len(classes) >= 25  # the walk found aiohttp's tree, not just its root
    missing = sorted(c.__name__ for c in classes if c not in TRANSPORT_ERRORS)
    assert missing == [], f"decide the fate of {missing} in gateway/transport.py TRANSPORT_ERRORS"


@pytest.mark.parametrize(
    ("fate", "expected"),
    [
        (Fate.CONNECTION, ConnectionFailed),
        (Fate.TIMEOUT, DeliveryTimeout),
        (Fate.PERMANENT, Undeliverable),
        (Fate.CONFIGURATION, DestinationMisconfigured),
    ],
)
def test_each_fate_maps_to_its_delivery_type(fate: Fate, expected: type[Exception]) -> None:
    classes = [c for c, f in TRANSPORT_ERRORS.items() if f is fate]
    assert classes
    for cls in classes:
        exc = cls.__new__(cls)  # the mapping reads the class only; aiohttp's constructors differ per class
        mapped = mapped_error(exc)
        assert type(mapped) is expected, cls
        transient = isinstance(mapped, TransientDeliveryError)
        assert transient == (fate in (Fate.CONNECTION, Fate.TIMEOUT))
        assert not isinstance(mapped, Refusal)  # nobody refused the message: never a §10 refusal


@pytest.mark.parametrize("url", ["", "/partners/x", "ftp://127.0.0.1/x", "http:///x", "127.0.0.1:9101/x"])
async def test_a_url_that_cannot_be_sent_to_is_a_configuration_error(url: str) -> None:
    transport = AiohttpTransport()
    try:
        with pytest.raises(DestinationMisconfigured) as info:
            await transport.send(HttpRequest("POST", url, {}, b"x"), timeout=5)
    finally:
        await transport.close()
    assert isinstance(info.value.__cause__, aiohttp.ClientError)  # mapped once, from the aiohttp exception
    assert info.value.code == DESTINATION_MISCONFIGURED
    assert url not in str(info.value) or not url  # the message names the class, not the URL


async def test_a_certificate_that_does_not_verify_is_a_configuration_error(tmp_path: Path) -> None:
    ca = devpki.make_ca("a CA the gateway does not trust")
    leaf = devpki.issue_tls_server(ca)
    (tmp_path / "cert.pem").write_bytes(leaf.cert_pem())
    (tmp_path / "key.pem").write_bytes(leaf.key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    async def never(_: web.Request) -> web.Response:
        return web.Response(text="never")

    app = web.Application()
    app.router.add_post("/x", never)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    transport = AiohttpTransport()
    try:
        with pytest.raises(DestinationMisconfigured) as info:
            await transport.send(HttpRequest("POST", f"https://127.0.0.1:{port}/x", {}, b"x"), timeout=5)
    finally:
        await transport.close()
        await runner.cleanup()
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorCertificateError)


async def test_no_answer_in_time_is_a_timeout() -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/x", slow)
    transport = AiohttpTransport()
    async with TestServer(app, host="127.0.0.1") as server:
        with pytest.raises(DeliveryTimeout):
            await transport.send(HttpRequest("POST", str(server.make_url("/x")), {}, b"x"), timeout=0.2)
    await transport.close()


async def test_a_bad_base_url_dead_letters_at_once_instead_of_retrying() -> None:
    """The real transport, the real short-retry engine and the real outbox policy: one attempt, then a dead letter
    with DESTINATION_MISCONFIGURED (it used to be ConnectionFailed, retried for max_age: three days)."""
    transport = AiohttpTransport()
    policy = RetryPolicy()
    calls = 0

    async def send() -> object:
        nonlocal calls
        calls += 1
        return await transport.send(HttpRequest("POST", "ftp://127.0.0.1/partners/x", {}, b"x"), timeout=5)

    async def no_sleep(_: float) -> None:
        return None

    try:
        with pytest.raises(DestinationMisconfigured) as info:
            await send_with_short_retries(send, policy, no_sleep, rng=random.Random(1))
    finally:
        await transport.close()
    assert calls == 1  # not retried within the attempt
    action = next_action(policy, 1, 1000.0, 1000.0, info.value, rng=random.Random(1))
    assert isinstance(action, DeadLetter)
    assert action.code == DESTINATION_MISCONFIGURED
    assert "refused by" not in action.reason  # nobody refused it: the reason says what to fix
