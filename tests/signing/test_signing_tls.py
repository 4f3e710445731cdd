"""Mutual TLS on real loopback aiohttp servers: the TLS layer refuses, the application sees the member code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from signing_testkit import TlsFiles

from signing.errors import CertificateInvalid
from signing.tls import client_context, peer_certificate, peer_serial_number, server_context


@dataclass
class Server:
    url: str
    handled: list[str | None]


@pytest.fixture
async def server(tls_files: TlsFiles) -> AsyncIterator[Server]:
    handled: list[str | None] = []

    async def whoami(request: web.Request) -> web.Response:
        code = peer_serial_number(request.transport)
        handled.append(code)
        return web.Response(text=code or "-")

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = server_context(tls_files.server_cert, tls_files.server_key, tls_files.ca)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Server(f"https://{host}:{port}/whoami", handled)
    finally:
        await runner.cleanup()


async def _get(url: str, ctx: object) -> str:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ctx) as resp:
        return await resp.text()


async def test_right_client_certificate_gets_through(server: Server, tls_files: TlsFiles) -> None:
    ctx = client_context(tls_files.ca, tls_files.client_cert, tls_files.client_key)
    assert await _get(server.url, ctx) == "310117"
    assert server.handled == ["310117"]


async def test_client_without_certificate_refused_at_tls(server: Server, tls_files: TlsFiles) -> None:
    with pytest.raises(aiohttp.ClientError):
        await _get(server.url, client_context(tls_files.ca))
    assert server.handled == []


async def test_client_certificate_from_another_ca_refused_at_tls(server: Server, tls_files: TlsFiles) -> None:
    ctx = client_context(tls_files.ca, tls_files.foreign_client_cert, tls_files.foreign_client_key)
    with pytest.raises(aiohttp.ClientError):
        await _get(server.url, ctx)
    assert server.handled == []


async def test_client_refuses_a_server_from_another_ca(server: Server, tls_files: TlsFiles) -> None:
    # The foreign client certificate is self-consistent but its CA is not the server's.
    other_ca = tls_files.foreign_client_cert  # not a CA: nothing chains to it
    with pytest.raises(aiohttp.ClientError):
        await _get(server.url, client_context(other_ca, tls_files.client_cert, tls_files.client_key))
    assert server.handled == []


def test_context_builders_fail_closed(tls_files: TlsFiles, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateInvalid):
        server_context(tmp_path / "missing.pem", tls_files.server_key, tls_files.ca)
    with pytest.raises(CertificateInvalid):
        client_context(tmp_path / "missing-ca.pem")
    with pytest.raises(CertificateInvalid):
        client_context(tls_files.ca, tls_files.client_cert)
    ctx = client_context(tls_files.ca.read_bytes())
    assert ctx.check_hostname


def test_peer_helpers_without_tls() -> None:
    class Plain:
        def get_extra_info(self, name: str) -> None:
            return None

    assert peer_certificate(None) is None
    assert peer_serial_number(Plain()) is None
