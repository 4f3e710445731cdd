"""The anhui wire scheme in both roles (anhui.md §1-§6): TIF client authentication and detached JWS both ways.

Client role (``Client``): every call renders the record with the adapter, signs a fresh request (new timestamp
and nonce, so a retry is re-signed), sends it through the injected ``Transport``, verifies the answer's JWS and maps
it: success → a result; a business refusal (200 + ``"400"``) or an authentication refusal (401, 413) → a
``Refusal`` with ``side=peer``; 5xx or ``"500"`` → ``ServerError``; 429 → ``Throttled``; an unsigned or badly signed
2xx/4xx answer → ``ServerError("unverified answer")`` (the receiver may have accepted it, so the caller retries with the
same idempotency key).

Server role (``Endpoint``): README §10 step 1 in order (body size → TIF → JWS → window and nonce), then decoding
with the adapter, then the business handler; every answer, refusal included, is the §4 envelope signed with
``x-ah-jws``. Rejections and signing errors become answers here, at the edge; nothing escapes as a 500 page.

The pure parts (strings to sign, header names, answer bodies) are ``adapters.anhui.scheme``. Credentials are one
``Link`` per side; ``generate_link`` makes a matched development pair. The simulator of hefei and huainan also
answers licence queries (a ``LicenceLibrary`` with consent checks) and catalogue pages (a lazy ``Catalogue``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.anhui import scheme as w
from adapters.base import Envelope
from adapters.licence_sign import verify_issuer_signature
from adapters.linkfiles import LinkReader, write_file, write_keypair
from adapters.wire import HttpRequest, HttpResponse
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.dialects import LinkKeys
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import LicenceQuery
from gateway.observability.refusals import note_refusal
from gateway.registry import Platform, item_codes_for
from gateway.wire.base import (
    Accepted,
    CataloguePage,
    InboundCall,
    LicenceAnswer,
    PlatformClient,
    PlatformEndpoint,
    Route,
    RouteHandler,
    fault_of,
    log_fault,
)
from signing import devpki
from signing.errors import Replayed, SigningError
from signing.keys import (
    ALG_ES256,
    ALG_SM2_SM3,
    PublicKey,
    SigningKey,
    VerificationKey,
    load_private_key_file,
)
from signing.secret import Secret

__all__ = [
    "Client",
    "Endpoint",
    "Link",
    "dev_consent_key",
    "generate_link",
    "load_link",
]

log = logging.getLogger(__name__)
BEIJING = timezone(timedelta(hours=8))
_RECORD_TYPES = {"case": "case", "status": "status", "evaluation": "evaluation"}
_JSON = "application/json; charset=utf-8"


# --- credentials ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Link:
    """One side's credentials on an anhui link; both roles use it (the other side holds the mirror image).

    Own: the paas id and token it presents (§2) and the ES256 key it signs bodies with (§3). Peer allow-lists:
    the paas ids (and their tokens) it accepts as callers, the JWS keys by kid it accepts. Licences: the issuers'
    SM2 keys by ``signCertSN`` (to verify §6.6 signatures), the consent issuers' ES256 keys by kid; an issuing
    platform also holds its own SM2 licence key and certificate serial.
    """

    paas_id: str
    paas_token: Secret
    jws_key: SigningKey
    peer_paas: Mapping[str, Secret]
    peer_jws_keys: Mapping[str, VerificationKey]
    licence_certs: Mapping[str, PublicKey] = field(default_factory=dict)
    consent_keys: Mapping[str, VerificationKey] = field(default_factory=dict)
    licence_key: SigningKey | None = None
    licence_cert_sn: str = ""

    def key_material(self) -> LinkKeys:
        issuer = None if self.licence_key is None else (self.licence_cert_sn, self.licence_key.private)
        return LinkKeys(jose=(self.jws_key,), consent=self.consent_keys, licence_issuer=issuer)


_SOURCE = "anhui link settings"


def _verification_keys(link: LinkReader, key: str, alg: str, *, required: bool) -> dict[str, VerificationKey]:
    return {
        kid: VerificationKey(kid, alg, public) for kid, public in link.public_keys(key, alg, required=required).items()
    }


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """Read one side's ``[platforms.<id>.link]`` table; file paths are relative to ``base``."""
    link = LinkReader(_SOURCE, settings, base)
    licence_key = None
    if settings.get("licence_key_file") is not None:  # anhui.md §6.6 signs licences with SM2
        private = link.private_key("licence_key_file", ALG_SM2_SM3)
        licence_key = SigningKey(link.text("licence_cert_sn"), ALG_SM2_SM3, private)
    return Link(
        paas_id=link.text("paas_id"),
        paas_token=link.secret("paas_token_file"),
        jws_key=SigningKey(link.text("jws_kid"), ALG_ES256, link.private_key("jws_key_file", ALG_ES256)),  # §3
        peer_paas={
            pid: link.secret(f"peer_paas.{pid}", f) for pid, f in link.table("peer_paas", required=True).items()
        },
        peer_jws_keys=_verification_keys(link, "peer_jws_keys", ALG_ES256, required=True),
        licence_certs=link.public_keys("licence_certs", ALG_SM2_SM3),
        consent_keys=_verification_keys(link, "consent_keys", ALG_ES256, required=False),
        licence_key=licence_key,
        licence_cert_sn=str(settings.get("licence_cert_sn", "")),
    )


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials under ``folder/<platform id>/``: (gateway side, platform side) settings.

    Also written: the consent issuer's key (``consent.pem``, for tests and the demo: see ``dev_consent_key``).
    """
    d = folder / platform.id
    d.mkdir(parents=True, exist_ok=True)
    gw_id, pf_id = f"tongban-{platform.id}", f"{platform.id}-kstb"
    for name in ("gateway", "platform"):
        write_file(d / f"{name}.paas-token", secrets.token_urlsafe(32).encode("ascii"), private=True)
    gw_key, gw_pub = write_keypair(d, "gateway.jws", devpki.generate_p256())
    pf_key, pf_pub = write_keypair(d, "platform.jws", devpki.generate_p256())
    lic_key, lic_pub = write_keypair(d, "licence.sm2", devpki.generate_sm2())
    _, consent_pub = write_keypair(d, "consent", devpki.generate_p256())
    cert_sn = secrets.token_hex(8)
    consent_kid = f"{platform.id}-consent-01"
    shared = {"licence_certs": {cert_sn: lic_pub}, "consent_keys": {consent_kid: consent_pub}}
    ids = {"gateway": gw_id, "platform": pf_id}
    jws = {"gateway": (f"{gw_id}-jws-01", gw_key, gw_pub), "platform": (f"{pf_id}-jws-01", pf_key, pf_pub)}

    def side(own: str, peer: str) -> dict[str, Any]:
        (kid, key, _), (peer_kid, _, peer_pub) = jws[own], jws[peer]
        return {
            "paas_id": ids[own],
            "paas_token_file": f"{platform.id}/{own}.paas-token",
            "jws_kid": kid,
            "jws_key_file": key,
            "peer_paas": {ids[peer]: f"{platform.id}/{peer}.paas-token"},
            "peer_jws_keys": {peer_kid: peer_pub},
            **shared,
        }

    gateway_side = side("gateway", "platform")
    platform_side = {**side("platform", "gateway"), "licence_key_file": lic_key, "licence_cert_sn": cert_sn}
    return gateway_side, platform_side


def dev_consent_key(folder: Path, platform_id: str) -> SigningKey:
    """The development consent issuer's key that ``generate_link`` wrote (kid ``<platform id>-consent-01``)."""
    private = load_private_key_file(folder / platform_id / "consent.pem")
    return SigningKey(f"{platform_id}-consent-01", ALG_ES256, private)


# --- client role -----------------------------------------------------------------------------------------------
class Client(PlatformClient):
    """Calls an anhui platform (or the gateway's anhui inbound routes) at ``ctx.base_url``."""

    def _signed(self, method: str, path: str, body: bytes, query: str = "") -> HttpRequest:
        link: Link = self.ctx.link
        now = self.ctx.clock()
        nonce = w.make_nonce(int(now * 1000), secrets.randbits(40))
        headers = w.tif_headers(link.paas_id, link.paas_token, now, nonce)
        headers[w.H_JWS] = w.sign_body(body, link.jws_key)
        if method == "POST":
            headers["content-type"] = self.ctx.adapter.content_type
        url = self.ctx.base_url.rstrip("/") + path + (f"?{query}" if query else "")
        return HttpRequest(method, url, headers, body)

    def _item_codes(self) -> Mapping[str, str] | None:
        """基本编码 → this site's implementing code (anhui.md §6.1 ``TASK_CODE``, §6.3 ``serviceCode``): the codes
        intake checked for this destination (``gateway.registry.item_codes_for``, one function for both)."""
        return item_codes_for(self.ctx.adapter.tables, self.ctx.platform)

    def _envelope(self, message_id: str) -> Envelope:
        return Envelope(message_id, datetime.fromtimestamp(self.ctx.clock(), BEIJING), message_id)

    async def _call(self, request: HttpRequest) -> w.Answer:
        response = await self.transport.send(request)
        return self._check(response)

    def _check(self, response: HttpResponse) -> w.Answer:
        if response.status == 429:
            wait = parse_retry_after(response.header("retry-after"), self.ctx.clock())
            raise Throttled("HTTP 429", retry_after=wait)
        if response.status >= 500:
            wait = parse_retry_after(response.header("retry-after"), self.ctx.clock())
            raise ServerError(f"HTTP {response.status}", retry_after=wait)
        link: Link = self.ctx.link
        try:
            w.verify_body(response.header(w.H_JWS), response.body, link.peer_jws_keys)
            answer = w.read_answer(response.status, response.body)
        except Refusal as exc:
            raise ServerError("unverified answer") from exc
        if answer.ok:
            return answer
        if answer.code == "500":
            raise ServerError("platform fault")
        code = answer.error_code or {401: "AUTH_FAILED", 413: "BODY_TOO_LARGE"}.get(response.status)
        if code is None:
            raise ServerError(f"unreadable refusal (HTTP {response.status})")
        raise Refusal.from_peer(code, answer.field, answer.msg)  # an unknown code maps to the documented fallback

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        """§6.1-§6.3; the receipt number is ``data.receiptNo``."""
        if record_type not in _RECORD_TYPES:
            return await super().submit(record_type, record, message_id)
        body = self.ctx.adapter.encode(record_type, record, self._envelope(message_id), self._item_codes())
        answer = await self._call(self._signed("POST", w.PATHS[record_type], body))
        receipt = answer.data.get("receiptNo") if isinstance(answer.data, dict) else None
        if not isinstance(receipt, str) or not receipt:
            raise ServerError("answer without a receipt number")
        return Accepted(receipt)

    async def query_licence(self, query: LicenceQuery, message_id: str) -> LicenceAnswer:
        """§6.4; the licence is verified with the issuer's SM2 key named by ``signCertSN`` (§6.6)."""
        body = self.ctx.adapter.encode("licence_query", query, self._envelope(message_id))
        request = self._signed("POST", w.PATHS["licence_query"], body)
        response = await self.transport.send(request)
        answer = self._check(response)
        # what does not decode or verify is a Refusal of ours (side=ours): permanent, like every refusal
        licence = self.ctx.adapter.decode("licence", response.body)
        signature = w.read_digital_sign(answer.data)
        verify_issuer_signature(licence, signature, self.ctx.link.licence_certs, "data.digitalSign")
        return LicenceAnswer(licence, signature)

    async def fetch_catalogue(self, page_no: int, page_size: int, since: datetime | None) -> CataloguePage:
        """§6.5: a TIF-signed GET with the JWS over the empty body; the page's JWS over its bytes."""
        if since is not None and since.tzinfo is not None:
            since = since.astimezone(BEIJING).replace(tzinfo=None)
        query = w.catalogue_query(page_no, page_size, since)
        response = await self.transport.send(self._signed("GET", w.CATALOGUE_PATH, b"", query))
        self._check(response)
        # a page that does not decode is a Refusal of ours (side=ours): permanent, like every refusal
        batch = self.ctx.adapter.decode("item", response.body)
        number, size, total = w.read_page_numbers(response.body)
        return CataloguePage(number, size, total, batch.items)


# --- server role -----------------------------------------------------------------------------------------------
class Endpoint(PlatformEndpoint):
    """The documented routes of one anhui platform (or of the gateway towards it), checks in README §10 order."""

    def routes(self) -> list[Route]:
        posts = [Route("POST", path, self._post_handler(op)) for op, path in w.PATHS.items()]
        return [*posts, Route("GET", w.CATALOGUE_PATH, self._catalogue)]

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        return self._refuse(rejection)

    def _answer(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> HttpResponse:
        headers = {w.H_JWS: w.sign_body(body, self.ctx.link.jws_key), "content-type": _JSON, **(extra or {})}
        return HttpResponse(status, headers, body)

    def _refuse(self, rejection: Refusal) -> HttpResponse:
        note_refusal(rejection)  # counted and logged once, at the gateway's partner edge
        return self._answer(*w.render_refusal(rejection))

    async def _transport_checks(self, request: HttpRequest) -> w.TifCredentials:
        """README §10 step 1 after the body size (checked by the edge that read it): TIF → JWS → window and nonce."""
        link: Link = self.ctx.link
        tif = w.read_tif(request.headers, link.peer_paas)
        w.verify_body(request.header(w.H_JWS), request.body, link.peer_jws_keys)
        scope = f"anhui:{self.ctx.platform.id}:{tif.paas_id}"
        try:
            await self.replay.check(scope, tif.nonce, tif.timestamp, self.ctx.clock())
        except Replayed as exc:
            where = w.H_TIMESTAMP if exc.reason == "outside_window" else w.H_NONCE
            raise Refusal(C.REPLAYED, where, exc.reason) from exc
        return tif

    async def _guarded(self, request: HttpRequest, op: str) -> HttpResponse:
        try:
            tif = await self._transport_checks(request)
            query = request.query
            if op == "catalogue":
                w.read_catalogue_query(query)
                record = None
            else:
                record = self.ctx.adapter.decode(op, request.body)
            call = InboundCall(
                self.ctx.platform.id, tif.paas_id, op, record, None, request.body, query, request.headers
            )
            result = await self.handler(call)
            return self._answer(200, self._render(op, record, result))
        except Refusal as exc:
            return self._refuse(exc)
        except SigningError as exc:
            return self._refuse(Refusal(C.SIGNATURE_INVALID, w.H_JWS, exc.reason))
        except Exception as exc:  # the documented fault answer (§4: 5xx, code "500"), never a traceback page
            fault = fault_of(exc)
            log_fault(log, self.ctx.platform.id, op, exc, fault)
            return self._answer(fault.status, w.render_answer({}, code="500"), fault.headers)

    def _render(self, op: str, record: Any, result: Any) -> bytes:
        if isinstance(result, Accepted):
            projid = getattr(record, "case_no", None)
            return w.render_answer({"receiptNo": result.receipt_no, "projid": projid})
        if isinstance(result, LicenceAnswer):
            tree = self.ctx.adapter.mapping("licence").encode(result.licence)
            return w.licence_answer_body(tree, result.signature)
        if isinstance(result, CataloguePage):
            mapping = self.ctx.adapter.mapping("item")
            trees = [mapping.encode(item) for item in result.items]
            return w.page_body(result.page_no, result.page_size, result.total, trees)
        raise TypeError(f"no anhui answer for {type(result).__name__} on {op}")

    def _post_handler(self, op: str) -> RouteHandler:
        async def handle(request: HttpRequest) -> HttpResponse:
            return await self._guarded(request, op)

        return handle

    async def _catalogue(self, request: HttpRequest) -> HttpResponse:
        return await self._guarded(request, "catalogue")


# --- simulator extras ------------------------------------------------------------------------------------------
