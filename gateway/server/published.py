"""What the gateway publishes about itself: its public keys (JWKS) and its own API (OpenAPI 3.1).

The JWKS holds the public half of every key the gateway signs with (request and answer signatures per link, client
assertions, message-log seals), so partners and auditors can verify what it sent without asking. Partner endpoints
(``/partners/<platform id>/...``) follow the platforms' own documents and are not repeated in the OpenAPI document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from signing.jwks import jwks_document
from signing.keys import SigningKey, VerificationKey

__all__ = ["OPENAPI", "gateway_public_keys", "published_routes"]


def gateway_public_keys(links: Mapping[str, Any], extra: Iterable[SigningKey] = ()) -> list[VerificationKey]:
    """The verification keys of every signing key held in the links (by kid, each once) and ``extra``."""
    found: dict[str, VerificationKey] = {}
    for link in links.values():
        if not dataclasses.is_dataclass(link):
            continue
        for f in dataclasses.fields(link):
            value = getattr(link, f.name)
            if isinstance(value, SigningKey):
                found.setdefault(value.kid, value.verification_key())
    for key in extra:
        found.setdefault(key.kid, key.verification_key())
    return list(found.values())


def _problem_ref() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _summary_schema() -> dict[str, Any]:
    fields = {
        "id": "string", "destination": "string", "kind": "string", "idempotency_key": "string",
        "message_id": "string", "state": "string", "attempts": "integer", "created_at": "number",
        "next_attempt_at": "number", "last_error_code": ["string", "null"], "last_error": ["string", "null"],
        "delivered_at": ["number", "null"],
    }
    return {"type": "object", "properties": {k: {"type": v} for k, v in fields.items()},
            "required": ["id", "destination", "kind", "state", "attempts"]}


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
        "/healthz": {"get": {"summary": "Alive", "responses": {"200": _ok("The process answers", {
            "type": "object", "properties": {"status": {"const": "ok"}}})}}},
        "/readyz": {"get": {"summary": "Ready: store reachable, no breaker stuck open", "responses": {
            "200": _ok("Ready", {"$ref": "#/components/schemas/Readiness"}),
            "503": _ok("Not ready, with the failing checks", {"$ref": "#/components/schemas/Readiness"})}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
            "200": _ok("Text exposition format", {"type": "string"}, "text/plain")}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _ok("OpenAPI 3.1", {
            "type": "object"})}}},
        "/.well-known/jwks.json": {"get": {"summary": "The gateway's public signing keys", "responses": {
            "200": _ok("JWKS", {"$ref": "#/components/schemas/Jwks"})}}},
        "/v1/translate": {"post": {
            "summary": "Translate one message between dialects (the operators' mapping check)",
            "parameters": [{"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                           for n in ("from", "to", "type")],
            "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {
                "type": "string", "contentMediaType": "application/octet-stream"}}}},
            "responses": {"200": _ok("The message in the destination dialect"),
                          "400": {"description": "Refused", "content": _problem_ref()},
                          "413": {"description": "Too large", "content": _problem_ref()},
                          "422": {"description": "Refused field", "content": _problem_ref()}}}},
        "/admin/outbox": {"get": {
            "summary": "Outbox messages (summaries)", "security": _ADMIN,
            "parameters": [
                {"name": "state", "in": "query", "schema": {"enum": ["pending", "delivering", "delivered", "dead"]}},
                {"name": "destination", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            ],
            "responses": {"200": _ok("Summaries", {"type": "object", "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/OutboxSummary"}}}}),
                "401": {"description": "Admin credential missing or wrong", "content": _problem_ref()}}}},
        "/admin/outbox/{id}": {
            "get": {"summary": "One message, personal data masked", "security": _ADMIN, "parameters": _ID,
                    "responses": {"200": _ok("The message", {"$ref": "#/components/schemas/OutboxSummary"}),
                                  "401": {"description": "Unauthorised", "content": _problem_ref()},
                                  "404": {"description": "No such message", "content": _problem_ref()}}},
            "delete": {"summary": "Discard a dead letter", "security": _ADMIN, "parameters": _ID,
                       "responses": {"200": _ok("Discarded"),
                                     "401": {"description": "Unauthorised", "content": _problem_ref()},
                                     "409": {"description": "Not a dead letter", "content": _problem_ref()}}},
        },
        "/admin/delivery": {"get": {
            "summary": "This instance's delivery: breakers, sends in flight, outcome counts, outbox per destination",
            "security": _ADMIN,
            "responses": {"200": _ok("Delivery state", {"type": "object"}),
                          "401": {"description": "Unauthorised", "content": _problem_ref()}}}},
        "/admin/outbox/{id}/retry": {"post": {
            "summary": "Put a dead letter back (same idempotency key and message id)", "security": _ADMIN,
            "parameters": _ID,
            "responses": {"200": _ok("Retried"), "401": {"description": "Unauthorised", "content": _problem_ref()},
                          "409": {"description": "Not a dead letter", "content": _problem_ref()}}}},
    },
    "components": {
        "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                           "description": "The token in [admin] token_file"}},
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "title", "status", "code"], "properties": {
                "type": {"type": "string", "format": "uri"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "code": {"type": "string"}, "field": {"type": "string"},
                "detail": {"type": "string"}}},
            "Readiness": {"type": "object", "required": ["ready", "failures"], "properties": {
                "ready": {"type": "boolean"},
                "failures": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "Jwks": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array", "items": {
                "type": "object", "required": ["kty", "kid"]}}}},
            "OutboxSummary": _summary_schema(),
        },
    },
}


def published_routes(public_keys: list[VerificationKey]) -> list[web.RouteDef]:
    document = jwks_document(public_keys)

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    return [web.get("/.well-known/jwks.json", jwks), web.get("/openapi.json", openapi)]
