"""A sixth, toy dialect, added from outside the tree as docs/running.md "Adding a dialect" describes.

JSON bodies with anhui's codec (its field tables copied into ``mappings/`` beside this file), and a signature scheme
of its own: ``x-toy-app`` names the caller, ``x-toy-sign`` is the lower-hex HMAC-SM3 of the exact body under the
link's shared secret, on requests and on answers. An answer is ``{"code": "OK", "receipt": ...}`` or
``{"code": <README §10 code>, "field": ...}``. Registered by one configuration line,
``[gateway] dialect_packages = ["toy"]``; nothing in the gateway names it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from adapters.wire import HttpRequest, HttpResponse
from gateway.config_schema import FileName, LinkTable, Text
from gateway.delivery.outcomes import ServerError
from gateway.dialects import Dialect, LinkKeys
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.registry import Platform, item_codes_for
from gateway.wire.base import Accepted, InboundCall, PlatformClient, PlatformEndpoint, Route
from signing.errors import SigningError
from signing.secret import Secret, secret_from_file
from signing.sm import hmac_sm3_hex, verify_hmac_sm3_hex

__all__ = ["DIALECT"]

H_APP, H_SIGN = "x-toy-app", "x-toy-sign"
OPERATIONS = ("case", "status", "evaluation")
BEIJING = timezone(timedelta(hours=8))


def describe_evidence(evidence: Mapping[str, str]) -> tuple[str, str]:
    """What the console shows of a logged toy message: its HMAC-SM3, named by the caller's app id."""
    return ("HMAC-SM3 (x-toy-sign)", evidence.get(H_APP, "-")) if H_SIGN in evidence else ("-", "-")


class ToyAdapter(AnhuiAdapter):
    name = "toy"


class ToyLinkTable(LinkTable):
    app: Text
    peer_app: Text
    secret_file: FileName


@dataclass(frozen=True, slots=True)
class ToyLink:
    app: str
    peer_app: str
    secret: Secret

    def key_material(self) -> LinkKeys:
        return LinkKeys()  # a shared secret: nothing to publish


def load_link(settings: Mapping[str, Any], base: Path) -> ToyLink:
    try:
        secret = secret_from_file(base / str(settings["secret_file"]))
    except SigningError as exc:
        raise ConfigError("toy link settings", "secret_file", f"unreadable ({exc.reason})", "check the file") from exc
    return ToyLink(str(settings["app"]), str(settings["peer_app"]), secret)


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    (folder / platform.id).mkdir(parents=True, exist_ok=True)
    (folder / platform.id / "toy.secret").write_text(secrets.token_hex(32), encoding="ascii")
    secret_file = f"{platform.id}/toy.secret"
    gateway_side = {"app": "tongban", "peer_app": platform.id, "secret_file": secret_file}
    return gateway_side, {"app": platform.id, "peer_app": "tongban", "secret_file": secret_file}


def _signed_json(link: ToyLink, answer: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(answer).encode("utf-8")
    return body, {H_APP: link.app, H_SIGN: hmac_sm3_hex(link.secret, body)}


class Client(PlatformClient):
    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        if record_type not in OPERATIONS:
            return await super().submit(record_type, record, message_id)
        link: ToyLink = self.ctx.link
        envelope = Envelope(message_id, datetime.fromtimestamp(self.ctx.clock(), BEIJING), message_id)
        codes = item_codes_for(self.ctx.adapter.tables, self.ctx.platform)
        body = self.ctx.adapter.encode(record_type, record, envelope, codes)
        headers = {H_APP: link.app, H_SIGN: hmac_sm3_hex(link.secret, body), "content-type": "application/json"}
        url = f"{self.ctx.base_url.rstrip('/')}/toy/{record_type}"
        response = await self.transport.send(HttpRequest("POST", url, headers, body))
        return self._answer(link, response)

    def _answer(self, link: ToyLink, response: HttpResponse) -> Accepted:
        if response.status >= 500:
            raise ServerError(f"HTTP {response.status}")
        try:
            verify_hmac_sm3_hex(link.secret, response.body, response.header(H_SIGN) or "")
        except SigningError as exc:
            raise ServerError("unverified answer") from exc
        answer = json.loads(response.body)
        if answer["code"] == "OK":
            return Accepted(str(answer["receipt"]))
        raise Refusal.from_peer(answer["code"], answer.get("field"), "refused by the toy platform")


class Endpoint(PlatformEndpoint):
    """Sans-IO: each route takes the whole request as a value and answers a signed one."""

    def routes(self) -> list[Route]:
        return [Route("POST", f"/toy/{op}", self._route(op)) for op in OPERATIONS]

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        return self._answer({"code": rejection.code.value, "field": rejection.where}, 400)

    def _answer(self, answer: dict[str, Any], status: int) -> HttpResponse:
        body, headers = _signed_json(self.ctx.link, answer)
        return HttpResponse(status, {**headers, "content-type": "application/json"}, body)

    def _route(self, op: str) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
        async def handle(request: HttpRequest) -> HttpResponse:
            try:
                return self._answer({"code": "OK", "receipt": await self._accept(op, request)}, 200)
            except Refusal as exc:
                return self.refuse(request, exc)

        return handle

    async def _accept(self, op: str, request: HttpRequest) -> str:
        link: ToyLink = self.ctx.link
        if request.header(H_APP) != link.peer_app:
            raise Refusal(C.AUTH_FAILED, H_APP, "unknown caller")
        try:
            verify_hmac_sm3_hex(link.secret, request.body, request.header(H_SIGN) or "")
        except SigningError as exc:
            raise Refusal(C.SIGNATURE_INVALID, H_SIGN, exc.reason) from exc
        record = self.ctx.adapter.decode(op, request.body)
        call = InboundCall(self.ctx.platform.id, link.peer_app, op, record, None, request.body, headers=request.headers)
        result = await self.handler(call)
        if not isinstance(result, Accepted):
            raise TypeError(f"the toy dialect answers submissions only, not {type(result).__name__}")
        return result.receipt_no


DIALECT = Dialect(
    name="toy",
    adapter=ToyAdapter,
    mappings=Path(__file__).parent / "mappings",
    link_schema=ToyLinkTable,
    load_link=load_link,
    generate_link=generate_link,
    client=Client,
    endpoint=Endpoint,
    documented_rate=10.0,
    evidence_headers=(H_APP, H_SIGN),
    describe_evidence=describe_evidence,
)
