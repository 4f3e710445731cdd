"""The shanghai wire scheme in both roles (shanghai.md §1-§4): SOAP 1.1 with a signed ``AuthHeader`` (HMAC-SM3).

One endpoint, ``POST {base}/ywtb/exchange/2.0/ExchangeService``, the operation chosen by the body and the quoted
``SOAPAction`` (§1); ``GET …?wsdl`` describes it. The scheme's arithmetic is pure and lives in
``adapters.shanghai.scheme``; this module adds what needs the clock, fresh nonces, the transport or the replay
guard; the endpoint is sans-IO (``HttpRequest`` in, ``HttpResponse`` out), mounted by the server edge.

Server order (README §10 step 1 comes after step 5 for shanghai, because the signature is inside the document):
body size → encoding, DTD, well-formedness, the SOAP envelope → ``AuthHeader`` (``AUTH_FAILED``) → sign
(``SIGNATURE_INVALID``) → window and nonce (``REPLAYED``) → the operation and ``SOAPAction`` (``MALFORMED``) → the
adapter's decoding → the handler → the signed answer. Every refusal is a signed ``soap:Fault`` with HTTP 500 (§3),
except ``AUTH_FAILED``, which is unsigned (§2: no shared secret is known to sign with).

Client side: a verified ``soap:Client`` fault is a ``Refusal`` (``side=peer``) with its code and field, a verified
``soap:Server`` fault a ``ServerError``; an answer that is unsigned or does not verify is a ``ServerError("unverified
answer")`` (the platform may have accepted: retrying with the same idempotency key is safe), with one documented
exception: the unsigned ``AUTH_FAILED`` fault (§2), which is a peer's ``Refusal`` too.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from adapters.base import Envelope
from adapters.linkfiles import LinkReader, write_file
from adapters.shanghai.codec import (
    OPERATIONS,
    SOAP_ACTIONS,
    SoapFault,
    SoapReply,
    auth_header,
    read_envelope,
    read_reply,
    render_fault,
    render_report_status_response,
    render_submit_case_response,
)
from adapters.shanghai.scheme import (
    LICENCE_ALGS,
    SERVICE_PATH,
    check_window,
    insert_digital_sign,
    read_digital_sign,
    record_type_for,
    sign_message,
    verify_auth,
    verify_licence_signature,
    wsdl_document,
)
from adapters.wire import HttpRequest, HttpResponse
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.dialects import LinkKeys
from gateway.errors import Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.records import LicenceQuery
from gateway.model.timefmt import BEIJING
from gateway.observability.refusals import note_refusal
from gateway.registry import Platform, item_codes_for
from gateway.wire.base import (
    Accepted,
    InboundCall,
    InboundResult,
    LicenceAnswer,
    PlatformClient,
    PlatformEndpoint,
    Route,
    fault_of,
    log_fault,
)
from signing.devpki import private_key_pem, public_key_pem
from signing.errors import Replayed, SigningError
from signing.keys import (
    ALG_SM2_SM3,
    SigningKey,
    VerificationKey,
)
from signing.secret import Secret
from signing.sm import sm2_generate

__all__ = ["Client", "Endpoint", "Link", "generate_link", "load_link"]

log = logging.getLogger(__name__)
_CONTENT_TYPE = "text/xml; charset=UTF-8"  # §1
_SOURCE = "shanghai link settings"
_IDENTIFIER = "queryLicence/@identifier"  # §1: where a licence query names the licence


# --- credentials -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Link:
    """One side's credentials of a shanghai link. The ``appSecret`` is shared: both sides sign and verify with it.

    ``licence_keys`` is the allow-list of licence issuers' SM2 keys by ``certSn`` (only ``licence_algs``);
    ``licence_signer`` (platform side) is the issuer key the simulator's licence library signs with.
    """

    app_id: str
    app_secret: Secret
    licence_keys: Mapping[str, VerificationKey] = field(default_factory=dict)
    licence_algs: tuple[str, ...] = LICENCE_ALGS
    licence_signer: SigningKey | None = None

    def key_material(self) -> LinkKeys:
        signer = self.licence_signer
        return LinkKeys(licence_issuer=None if signer is None else (signer.kid, signer.private))

    def secret_for(self, app_id: str) -> Secret | None:
        """The shared secret of a caller's ``appId``; None for an appId this side does not know (``AUTH_FAILED``)."""
        return self.app_secret if app_id == self.app_id else None


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """Read ``app_id``, ``app_secret_file``, ``licence_issuer_keys`` (certSn → SM2 public PEM) and, on the platform
    side, ``licence_signing_key_file`` with ``licence_cert_sn``; paths relative to ``base``."""
    link = LinkReader(_SOURCE, settings, base)
    app_id = link.text("app_id")
    secret = link.secret("app_secret_file")
    keys = {  # anhui.md §6.6: a licence issuer key is SM2
        str(sn): VerificationKey(str(sn), ALG_SM2_SM3, public)
        for sn, public in link.public_keys("licence_issuer_keys", ALG_SM2_SM3).items()
    }
    signer = None
    signing_file, cert_sn = settings.get("licence_signing_key_file"), link.optional("licence_cert_sn")
    if (signing_file is None) != (cert_sn is None):
        raise link.refuse("licence_cert_sn", "licence_signing_key_file and licence_cert_sn go together")
    if signing_file is not None and cert_sn is not None:
        signer = SigningKey(cert_sn, ALG_SM2_SM3, link.private_key("licence_signing_key_file", ALG_SM2_SM3))
    return Link(app_id, secret, keys, LICENCE_ALGS, signer)


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials under ``folder/<platform id>/``: an appId and its secret (mode 0600), and a
    licence issuer SM2 key pair. Returns (gateway side, platform side) settings for ``load_link(…, folder)``."""
    out = folder / platform.id
    out.mkdir(parents=True, exist_ok=True)
    write_file(out / "app_secret", secrets.token_urlsafe(32).encode(), private=True)
    issuer = sm2_generate()
    write_file(out / "licence_issuer.key.pem", private_key_pem(issuer), private=True)
    write_file(out / "licence_issuer.pub.pem", public_key_pem(issuer))
    cert_sn = secrets.token_hex(8)
    shared: dict[str, Any] = {
        "app_id": f"{platform.id.upper()}-DEV-{secrets.token_hex(4).upper()}",
        "app_secret_file": f"{platform.id}/app_secret",
        "licence_issuer_keys": {cert_sn: f"{platform.id}/licence_issuer.pub.pem"},
    }
    platform_side = {
        **shared,
        "licence_signing_key_file": f"{platform.id}/licence_issuer.key.pem",
        "licence_cert_sn": cert_sn,
    }
    return dict(shared), platform_side


def _now_ms(now: float) -> int:
    return round(now * 1000)


def _sign(body: bytes, app_id: str, secret: Secret, now: float) -> bytes:
    return sign_message(body, app_id, secret, _now_ms(now), secrets.token_hex(16))


# --- client role ------------------------------------------------------------------------------------------------
class Client(PlatformClient):
    """Calls ``submitCase``, ``reportStatus`` and ``queryLicence`` at ``ctx.base_url``, each freshly signed."""

    @property
    def url(self) -> str:
        base = self.ctx.base_url.rstrip("/")
        return base if base.endswith(SERVICE_PATH) else base + SERVICE_PATH  # config may name the service or base

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        if record_type not in ("case", "status"):
            return await super().submit(record_type, record, message_id)
        reply, _ = await self._call(record_type, record, message_id)
        return Accepted(reply.receipt_no or "")  # §1: reportStatusResponse carries no receipt number

    async def query_licence(self, query: LicenceQuery, message_id: str) -> LicenceAnswer:
        reply, body = await self._call("licence_query", query, message_id)
        # a verified answer whose licence is refused: the same answer would come again
        licence = self.ctx.adapter.decode("licence", body)
        signature = read_digital_sign(reply.message)
        verify_licence_signature(licence, signature, self.ctx.link.licence_keys, self.ctx.link.licence_algs)
        return LicenceAnswer(licence, signature)

    def _render(self, record_type: str, record: Any, message_id: str) -> bytes:
        platform, adapter = self.ctx.platform, self.ctx.adapter
        sent_at = datetime.fromtimestamp(self.ctx.clock(), BEIJING)
        envelope = Envelope(message_id, sent_at, message_id, sender=self.ctx.link.app_id, receiver=platform.id)
        codes = item_codes_for(adapter.tables, platform)  # what intake checked for this destination (one function)
        # the record cannot travel in this dialect: sending again cannot help
        return adapter.encode(record_type, record, envelope, codes if record_type == "case" else None)

    async def _call(self, record_type: str, record: Any, message_id: str) -> tuple[SoapReply, bytes]:
        link = self.ctx.link
        body = _sign(self._render(record_type, record, message_id), link.app_id, link.app_secret, self.ctx.clock())
        headers = {"content-type": _CONTENT_TYPE, "soapaction": SOAP_ACTIONS[record_type]}
        response = await self.transport.send(HttpRequest("POST", self.url, headers, body))
        return self._answer(response, OPERATIONS[record_type][0]), response.body

    def _answer(self, response: HttpResponse, operation: str) -> SoapReply:
        now = self.ctx.clock()
        wait = parse_retry_after(response.header("retry-after"), now)
        if response.status == 429:
            raise Throttled("HTTP 429", retry_after=wait)
        if response.status not in (200, 500):
            raise ServerError(f"HTTP {response.status}", retry_after=wait)
        try:
            reply = read_reply(response.body, operation)
        except Refusal as exc:
            raise ServerError("unreadable answer") from exc
        fault = reply.fault
        if fault is not None and fault.code == C.AUTH_FAILED and auth_header(reply.message.envelope) is None:
            raise Refusal(C.AUTH_FAILED, fault.field, fault.faultstring, side=Side.PEER)  # §2: unsigned
        try:
            verified = verify_auth(reply.message, self.ctx.link.secret_for)
            check_window(verified.timestamp_ms, _now_ms(now))
        except Refusal as exc:
            raise ServerError("unverified answer") from exc
        if fault is None:
            if response.status != 200:
                raise ServerError(f"HTTP {response.status} without a fault")
            return reply
        if fault.server or not fault.code:
            raise ServerError("platform fault", retry_after=wait)  # §3: retry with the same caseNo + version
        raise Refusal.from_peer(fault.code, fault.field, fault.faultstring)  # an unknown code maps to the fallback


# --- server role -------------------------------------------------------------------------------------------------
class Endpoint(PlatformEndpoint):
    """The ExchangeService as the platform runs it (see the module docstring for the order of checks)."""

    def routes(self) -> list[Route]:
        return [Route("POST", SERVICE_PATH, self.exchange), Route("GET", SERVICE_PATH, self.wsdl)]

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        note_refusal(rejection)  # counted and logged once, at the gateway's partner edge
        link: Link = self.ctx.link
        return self._fault(SoapFault.from_rejection(rejection), (link.app_id, link.app_secret))

    async def wsdl(self, request: HttpRequest) -> HttpResponse:
        if "wsdl" not in request.query:
            text = b"calls are POST; GET answers ?wsdl only"
            return HttpResponse(405, {"allow": "POST", "content-type": "text/plain; charset=utf-8"}, text)
        address = urlunsplit(urlsplit(request.url)._replace(query="", fragment=""))
        return HttpResponse(200, {"content-type": "text/xml"}, wsdl_document(address))

    async def exchange(self, request: HttpRequest) -> HttpResponse:
        link: Link = self.ctx.link
        signer: tuple[str, Secret] | None = (link.app_id, link.app_secret)
        try:
            body = request.body
            message = read_envelope(body)
            auth = auth_header(message.envelope) or {}
            if "appId" in auth:
                known = link.secret_for(auth["appId"])
                signer = None if known is None else (auth["appId"], known)
            verified = verify_auth(message, link.secret_for)
            now = self.ctx.clock()
            check_window(verified.timestamp_ms, _now_ms(now))
            try:
                scope = f"shanghai:{self.ctx.platform.id}:{verified.app_id}"
                await self.replay.check(scope, verified.nonce, verified.timestamp_ms / 1000, now)
            except Replayed as exc:
                raise Refusal(C.REPLAYED, "AuthHeader/@nonce", "the nonce was already used") from exc
            record_type = record_type_for(request.header("SOAPAction"), message)
            record = self.ctx.adapter.decode(record_type, body)
            call = InboundCall(
                self.ctx.platform.id, verified.app_id, record_type, record, None, body, headers=request.headers
            )
            result = await self.handler(call)
        except Refusal as exc:
            note_refusal(exc)  # counted and logged once, at the gateway's partner edge
            return self._fault(SoapFault.from_rejection(exc), None if exc.code == C.AUTH_FAILED else signer)
        except SigningError as exc:  # a handler's signature check (e.g. a consent token) that did not map itself
            refused = Refusal(C.SIGNATURE_INVALID, None, f"signature refused: {exc.reason}")
            note_refusal(refused)
            return self._fault(SoapFault.from_rejection(refused), signer)
        except Exception as exc:  # the platform's own failure: a soap:Server fault, never a traceback (§3)
            fault = fault_of(exc)  # §3: HTTP 500 for every fault (SOAP 1.1), so an outage says only Retry-After
            log_fault(log, self.ctx.platform.id, "exchange", exc, fault)
            return self._fault(SoapFault("platform fault, retry later", server=True), signer, fault.headers)
        try:
            answer = self._render_answer(record_type, result)
        except (Refusal, ValueError) as exc:
            log.error("shanghai endpoint: the answer could not be rendered (%s)", type(exc).__name__)
            return self._fault(SoapFault("platform fault, retry later", server=True), signer)
        return self._respond(200, answer, (verified.app_id, verified.secret))

    def _render_answer(self, record_type: str, result: InboundResult) -> bytes:
        if record_type == "case" and isinstance(result, Accepted):
            return render_submit_case_response(result.receipt_no)
        if record_type == "status" and isinstance(result, Accepted):
            return render_report_status_response()
        if record_type == "licence_query" and isinstance(result, LicenceAnswer):
            now = datetime.fromtimestamp(self.ctx.clock(), BEIJING)
            body = self.ctx.adapter.encode("licence", result.licence, Envelope("", now, ""))
            return insert_digital_sign(body, result.signature) if result.signature is not None else body
        raise ValueError(f"no {record_type} answer for a {type(result).__name__}")

    def _fault(
        self, fault: SoapFault, signer: tuple[str, Secret] | None, extra: dict[str, str] | None = None
    ) -> HttpResponse:
        return self._respond(500, render_fault(fault), signer, extra)  # §3: HTTP 500 for every fault

    def _respond(
        self, status: int, body: bytes, signer: tuple[str, Secret] | None, extra: dict[str, str] | None = None
    ) -> HttpResponse:
        if signer is not None:
            body = _sign(body, signer[0], signer[1], self.ctx.clock())
        return HttpResponse(status, {"content-type": _CONTENT_TYPE, **(extra or {})}, body)


# --- the simulator's licence service (§1 queryLicence) ----------------------------------------------------------
