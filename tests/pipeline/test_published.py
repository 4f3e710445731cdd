"""The gateway's own API is described by a valid OpenAPI 3.1 document, and it publishes its public keys."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from openapi_spec_validator import validate
from pipeline_stack import Stack

from gateway.links import gateway_link_settings
from gateway.server.keys import CONFIG
from gateway.server.published import OPENAPI
from gateway.wire.registry import load_platform_link
from signing.b64 import b64url_decode
from signing.jwks import jwk_of
from signing.keys import public_key_of, sm2_public_to_hex


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


async def test_the_jwks_holds_every_key_the_gateway_signs_with(stack: Stack) -> None:
    """g60's RSA signing key (XMLDSig, g60.md §4) as an RSA JWK with its chain; zlb's SM2 key (X-Sm2-Sign, zlb.md
    §3) as the documented certificate serial and uncompressed public point; each verifies what the gateway signs."""
    status, jwks = await _json(f"{stack.gateway_url}/.well-known/jwks.json")
    assert status == 200
    config = stack.app[CONFIG]
    links = gateway_link_settings(config.registry, config.base_dir, config.dev_credentials, config.source)
    loaded = {
        pid: load_platform_link(p, links[pid].settings, links[pid].base) for pid, p in config.registry.platforms.items()
    }

    rsa_keys = [k for k in jwks["keys"] if k["kty"] == "RSA"]
    g60_pids = [pid for pid, p in config.registry.platforms.items() if p.dialect == "g60"]
    assert g60_pids and len(rsa_keys) >= 1
    for pid in g60_pids:
        signer = loaded[pid].signer
        jwk = next(k for k in rsa_keys if k["kid"] == f"{pid}:x509:{signer.cert.serial_number:x}")
        assert jwk["alg"] == "RS256" and jwk["use"] == "sig" and "d" not in jwk
        leaf = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
        assert leaf == signer.cert
        numbers = leaf.public_key().public_numbers()  # type: ignore[union-attr]
        assert int.from_bytes(b64url_decode(jwk["n"]), "big") == numbers.n
        # the published key verifies what the gateway's g60 key signs
        signature = signer.key.sign(b"evidence", padding.PKCS1v15(), hashes.SHA256())
        leaf.public_key().verify(signature, b"evidence", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]

    zlb_pids = [pid for pid, p in config.registry.platforms.items() if p.dialect == "zlb"]
    assert zlb_pids
    for pid in zlb_pids:
        link = loaded[pid]
        entry = next(e for e in jwks["sm2_keys"] if e["platform"] == pid and e["cert_sn"] == link.cert_sn)
        assert entry["alg"] == "SM2-SM3"
        assert entry["public_key"] == sm2_public_to_hex(public_key_of(link.sign_key))
        assert entry["public_key"].startswith("04") and len(entry["public_key"]) == 130
    assert not any(k.get("crv") == "SM2" for k in jwks["keys"])  # JOSE readers never meet an unknown curve
    assert all("d" not in e and "private" not in e for e in jwks["sm2_keys"])
