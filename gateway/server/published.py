"""What the gateway publishes about itself: its public keys (JWKS) and its own API (OpenAPI 3.1).

``/.well-known/jwks.json`` holds the public half of every key the gateway signs with, so partners and auditors can
verify what it sent without asking:

- in ``keys`` (RFC 7517), the JOSE-registered ones: request and answer signatures per link (ES256, EdDSA), client
  assertions, message-log seals, and the RSA keys of X.509 signing certificates (g60.md §4 XMLDSig
  ``rsa-sha256``), each with its certificate chain in ``x5c`` (leaf first) and ``x5t#S256``;
- in ``sm2_keys``, the SM2 keys (zlb.md §3 ``X-Sm2-Sign``; licence signatures), in the form the platform documents
  register them: the certificate serial (lower-case hex, the ``X-Sm2-Cert-Sn`` header) and the public key as the
  uncompressed point ``04|x|y`` in hex. SM2 has no registered JOSE curve, and an unknown ``crv`` in ``keys`` makes
  some JOSE libraries refuse the whole set; RFC 7517 §5 says members a reader does not understand are ignored, so
  the SM2 keys sit beside ``keys``, never in it.

Symmetric secrets (shanghai.md HMAC, zlb appSecret) are shared with the one partner and never published. Partner
endpoints (``/partners/<platform id>/...``) follow the platforms' own documents and are not repeated in the OpenAPI
document.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.dialects import DialectLink
from signing.b64 import b64url_encode
from signing.errors import KeyInvalid
from signing.jwks import jwks_document
from signing.keys import ALG_SM2_SM3, SigningKey, VerificationKey, alg_for_key, public_key_of, sm2_public_to_hex

__all__ = ["OPENAPI", "PublishedKeys", "gateway_public_keys", "published_routes"]


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedKeys:
    """Every public key the gateway signs with: JOSE keys (with their certificate chains) and SM2 keys."""

    keys: tuple[VerificationKey, ...]
    chains: Mapping[str, tuple[x509.Certificate, ...]]  # kid -> X.509 chain, leaf first
    sm2: tuple[dict[str, str], ...]

    def document(self) -> dict[str, Any]:
        """The JWKS document (see the module docstring)."""
        doc = jwks_document(self.keys)
        for jwk in doc["keys"]:
            chain = self.chains.get(jwk["kid"])
            if chain:
                jwk["x5c"] = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
                jwk["x5t#S256"] = b64url_encode(
                    hashlib.sha256(chain[0].public_bytes(serialization.Encoding.DER)).digest()
                )
        doc["sm2_keys"] = list(self.sm2)
        return doc


def _alg(key: object) -> str | None:
    try:
        return alg_for_key(key)
    except KeyInvalid:
        return None


def _sm2_entry(platform: str, cert_sn: str, private: Any) -> dict[str, str]:
    return {
        "platform": platform,
        "kid": f"{platform}:sm2:{cert_sn}",
        "alg": ALG_SM2_SM3,
        "cert_sn": cert_sn,
        "public_key": sm2_public_to_hex(public_key_of(private)),
    }


def gateway_public_keys(links: Mapping[str, DialectLink], extra: Iterable[SigningKey] = ()) -> PublishedKeys:
    """The public half of every signing key held in the links (``DialectLink.key_material``; by kid, each once) and
    ``extra``: JOSE keys, the keys of X.509 signing certificates (SM2 certificates are skipped: no JOSE curve) and
    SM2 keys by certificate serial."""
    found: dict[str, VerificationKey] = {}
    chains: dict[str, tuple[x509.Certificate, ...]] = {}
    sm2: dict[str, dict[str, str]] = {}
    for platform, link in links.items():
        held = link.key_material()
        for key in held.jose:
            found.setdefault(key.kid, key.verification_key())
        for chain in held.signer_chains:
            public = chain[0].public_key()
            alg = _alg(public)
            if alg is None or alg == ALG_SM2_SM3:
                continue
            kid = f"{platform}:x509:{chain[0].serial_number:x}"
            found.setdefault(kid, VerificationKey(kid, alg, public))
            chains.setdefault(kid, chain)
        for cert_sn, private in held.sm2:
            entry = _sm2_entry(platform, cert_sn, private)
            sm2.setdefault(entry["kid"], entry)
    for key in extra:
        found.setdefault(key.kid, key.verification_key())
    return PublishedKeys(tuple(found.values()), chains, tuple(sm2.values()))


def _problem_ref() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _summary_schema() -> dict[str, Any]:
    fields = {
        "id": "string",
        "destination": "string",
        "kind": "string",
        "idempotency_key": "string",
        "message_id": "string",
        "state": "string",
        "attempts": "integer",
        "created_at": "number",
        "next_attempt_at": "number",
        "last_error_code": ["string", "null"],
        "last_error": ["string", "null"],
        "delivered_at": ["number", "null"],
    }
    return {
        "type": "object",
        "properties": {k: {"type": v} for k, v in fields.items()},
        "required": ["id", "destination", "kind", "state", "attempts"],
    }


def _ok(description: str, schema: dict[str, Any] | None = None, media: str = "application/json") -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {media: {"schema": schema}}
    return out


_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Tongban Gateway (通办网关)",
        "version": "0.1.0",
        "description": "The gateway's own API: health, metrics, published keys, the operators' outbox and the "
        "translation check. Partner platforms talk to /partners/<platform id>/ in their own "
        "dialects, as their interface documents describe; the receipts they get are those "
        "documents' receipts, signed as each requires. Every refusal of this API is an RFC 9457 "
        "problem document with a stable `code`.",
    },
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Alive",
                "responses": {
                    "200": _ok("The process answers", {"type": "object", "properties": {"status": {"const": "ok"}}})
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Ready: store reachable, no breaker stuck open",
                "responses": {
                    "200": _ok("Ready", {"$ref": "#/components/schemas/Readiness"}),
                    "503": _ok("Not ready, with the failing checks", {"$ref": "#/components/schemas/Readiness"}),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": _ok("Text exposition format", {"type": "string"}, "text/plain")},
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _ok("OpenAPI 3.1", {"type": "object"})}}
        },
        "/.well-known/jwks.json": {
            "get": {
                "summary": "The gateway's public signing keys",
                "responses": {"200": _ok("JWKS", {"$ref": "#/components/schemas/Jwks"})},
            }
        },
        "/v1/translate": {
            "post": {
                "summary": "Translate one message between dialects (the operators' mapping check)",
                "parameters": [
                    {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                    for n in ("from", "to", "type")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "contentMediaType": "application/octet-stream"}
                        }
                    },
                },
                "responses": {
                    "200": _ok("The message in the destination dialect"),
                    "400": {"description": "Refused", "content": _problem_ref()},
                    "413": {"description": "Too large", "content": _problem_ref()},
                    "422": {"description": "Refused field", "content": _problem_ref()},
                },
            }
        },
        "/admin/outbox": {
            "get": {
                "summary": "Outbox messages (summaries)",
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"enum": ["pending", "delivering", "delivered", "dead"]},
                    },
                    {"name": "destination", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {
                    "200": _ok(
                        "Summaries",
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"$ref": "#/components/schemas/OutboxSummary"}}
                            },
                        },
                    ),
                    "401": {"description": "Admin credential missing or wrong", "content": _problem_ref()},
                },
            }
        },
        "/admin/outbox/{id}": {
            "get": {
                "summary": "One message, personal data masked",
                "security": _ADMIN,
                "parameters": _ID,
                "responses": {
                    "200": _ok("The message", {"$ref": "#/components/schemas/OutboxSummary"}),
                    "401": {"description": "Unauthorised", "content": _problem_ref()},
                    "404": {"description": "No such message", "content": _problem_ref()},
                },
            },
            "delete": {
                "summary": "Discard a dead letter",
                "security": _ADMIN,
                "parameters": _ID,
                "responses": {
                    "200": _ok("Discarded"),
                    "401": {"description": "Unauthorised", "content": _problem_ref()},
                    "409": {"description": "Not a dead letter", "content": _problem_ref()},
                },
            },
        },
        "/admin/delivery": {
            "get": {
                "summary": "This instance's delivery: breakers, sends in flight, outcome counts, outbox by destination",
                "security": _ADMIN,
                "responses": {
                    "200": _ok("Delivery state", {"type": "object"}),
                    "401": {"description": "Unauthorised", "content": _problem_ref()},
                },
            }
        },
        "/admin/outbox/{id}/retry": {
            "post": {
                "summary": "Put a dead letter back (same idempotency key and message id)",
                "security": _ADMIN,
                "parameters": _ID,
                "responses": {
                    "200": _ok("Retried"),
                    "401": {"description": "Unauthorised", "content": _problem_ref()},
                    "409": {"description": "Not a dead letter", "content": _problem_ref()},
                },
            }
        },
    },
    "components": {
        "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "The token in [admin] token_file"}
        },
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "code"],
                "properties": {
                    "type": {"type": "string", "format": "uri"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
            "Readiness": {
                "type": "object",
                "required": ["ready", "failures"],
                "properties": {
                    "ready": {"type": "boolean"},
                    "failures": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "Jwks": {
                "type": "object",
                "required": ["keys"],
                "properties": {
                    "keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}},
                    "sm2_keys": {
                        "type": "array",
                        "description": "SM2 keys, as the platform documents register them "
                        "(no JOSE curve exists for SM2)",
                        "items": {
                            "type": "object",
                            "required": ["kid", "alg", "cert_sn", "public_key"],
                            "properties": {
                                "platform": {"type": "string"},
                                "kid": {"type": "string"},
                                "alg": {"const": "SM2-SM3"},
                                "cert_sn": {"type": "string"},
                                "public_key": {"type": "string", "description": "uncompressed point 04|x|y, hex"},
                            },
                        },
                    },
                },
            },
            "OutboxSummary": _summary_schema(),
        },
    },
}


def published_routes(public_keys: PublishedKeys) -> list[web.RouteDef]:
    document = public_keys.document()

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    return [web.get("/.well-known/jwks.json", jwks), web.get("/openapi.json", openapi)]
