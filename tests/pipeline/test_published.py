"""The gateway's own API is described by a valid OpenAPI 3.1 document, and it publishes its public keys."""

from __future__ import annotations

from typing import Any

import aiohttp
from openapi_spec_validator import validate
from pipeline_stack import Stack

from gateway.server.published import OPENAPI
from signing.jwks import jwk_of


def test_the_openapi_document_is_valid_3_1() -> None:
    validate(OPENAPI)
    assert OPENAPI["openapi"] == "3.1.0"


async def _json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json()


async def test_served_documents_match_the_routes(stack: Stack) -> None:
    status, doc = await _json(f"{stack.gateway_url}/openapi.json")
    assert status == 200
    assert doc == OPENAPI
    routes = {r.resource.canonical for r in stack.app.router.routes() if r.resource is not None}
    for path in OPENAPI["paths"]:
        assert path in routes, path
    status, jwks = await _json(f"{stack.gateway_url}/.well-known/jwks.json")
    assert status == 200
    kinds = {(k["kty"], k.get("crv")) for k in jwks["keys"]}
    assert ("EC", "P-256") in kinds  # anhui JWS, hunan client assertions
    assert ("OKP", "Ed25519") in kinds  # hunan message signatures, message-log seals
    assert all("d" not in k for k in jwks["keys"])  # never a private member
    from gateway.msglog_cli import seal_key

    assert jwk_of(seal_key(stack.config).verification_key()) in jwks["keys"]
