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
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from adapters.anhui import scheme as w
from adapters.base import Envelope
from adapters.licence_sign import verify_issuer_signature
from adapters.wire import HttpRequest, HttpResponse
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.dialects import LinkKeys
from gateway.errors import ConfigError, Refusal
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
    alg_for_key,
    load_private_key_file,
    load_public_key_file,
)
from signing.secret import Secret, secret_from_file

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


def _text(settings: Mapping[str, Any], key: str) -> str:
    value = settings.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(_SOURCE, key, "missing or not a non-empty string", f"set {key}")
    return value


def _table(settings: Mapping[str, Any], key: str, required: bool) -> Mapping[str, str]:
    value = settings.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping) or not value or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(_SOURCE, key, "missing or not a table of names to file paths", f"set [{key}]")
    return value


def _load(key: str, what: str, loader: Any, path: Path) -> Any:
    try:
        return loader(path)
    except SigningError as exc:
        raise ConfigError(_SOURCE, key, f"{what} at {path} is unreadable ({exc.reason})", "check the file") from exc


def _verification(key: str, kid: str, path: Path, alg: str) -> VerificationKey:
    public = _load(f"{key}.{kid}", "public key", load_public_key_file, path)
    if alg_for_key(public) != alg:
        raise ConfigError(_SOURCE, f"{key}.{kid}", f"not an {alg} key", f"give an {alg} public key")
    return VerificationKey(kid, alg, public)


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """Read one side's ``[platforms.<id>.link]`` table; file paths are relative to ``base``."""
    own = _load("jws_key_file", "private key", load_private_key_file, base / _text(settings, "jws_key_file"))
    if alg_for_key(own) != ALG_ES256:
        raise ConfigError(_SOURCE, "jws_key_file", "not a P-256 key", "anhui.md §3 signs with ES256")
    peer_paas = {
        pid: _load(f"peer_paas.{pid}", "secret", secret_from_file, base / f)
        for pid, f in _table(settings, "peer_paas", True).items()
    }
    licence_key = None
    if settings.get("licence_key_file") is not None:
        private = _load(
            "licence_key_file", "private key", load_private_key_file, base / _text(settings, "licence_key_file")
        )
        if alg_for_key(private) != ALG_SM2_SM3:
            raise ConfigError(_SOURCE, "licence_key_file", "not an SM2 key", "anhui.md §6.6 signs with SM2")
        licence_key = SigningKey(_text(settings, "licence_cert_sn"), ALG_SM2_SM3, private)
    return Link(
        paas_id=_text(settings, "paas_id"),
        paas_token=_load("paas_token_file", "secret", secret_from_file, base / _text(settings, "paas_token_file")),
        jws_key=SigningKey(_text(settings, "jws_kid"), ALG_ES256, own),
        peer_paas=peer_paas,
        peer_jws_keys={
            kid: _verification("peer_jws_keys", kid, base / f, ALG_ES256)
            for kid, f in _table(settings, "peer_jws_keys", True).items()
        },
        licence_certs={
            sn: _verification("licence_certs", sn, base / f, ALG_SM2_SM3).public
            for sn, f in _table(settings, "licence_certs", False).items()
        },
        consent_keys={
            kid: _verification("consent_keys", kid, base / f, ALG_ES256)
            for kid, f in _table(settings, "consent_keys", False).items()
        },
        licence_key=licence_key,
        licence_cert_sn=str(settings.get("licence_cert_sn", "")),
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def _keypair(folder: Path, name: str, key: Any) -> tuple[str, str]:
    _write(folder / f"{name}.pem", devpki.private_key_pem(key), private=True)
    _write(folder / f"{name}.pub.pem", devpki.public_key_pem(key), private=False)
    return f"{folder.name}/{name}.pem", f"{folder.name}/{name}.pub.pem"


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials under ``folder/<platform id>/``: (gateway side, platform side) settings.

    Also written: the consent issuer's key (``consent.pem``, for tests and the demo: see ``dev_consent_key``).
    """
    d = folder / platform.id
    d.mkdir(parents=True, exist_ok=True)
    gw_id, pf_id = f"tongban-{platform.id}", f"{platform.id}-kstb"
    for name in ("gateway", "platform"):
        _write(d / f"{name}.paas-token", secrets.token_urlsafe(32).encode("ascii"), private=True)
    gw_key, gw_pub = _keypair(d, "gateway.jws", devpki.generate_p256())
    pf_key, pf_pub = _keypair(d, "platform.jws", devpki.generate_p256())
    lic_key, lic_pub = _keypair(d, "licence.sm2", devpki.generate_sm2())
    _, consent_pub = _keypair(d, "consent", devpki.generate_p256())
    cert_sn = secrets.token_hex(8)
    gw_kid, pf_kid, consent_kid = f"{gw_id}-jws-01", f"{pf_id}-jws-01", f"{platform.id}-consent-01"
    shared = {"licence_certs": {cert_sn: lic_pub}, "consent_keys": {consent_kid: consent_pub}}
    gateway_side = {
        "paas_id": gw_id,
        "paas_token_file": f"{platform.id}/gateway.paas-token",
        "jws_kid": gw_kid,
        "jws_key_file": gw_key,
        "peer_paas": {pf_id: f"{platform.id}/platform.paas-token"},
        "peer_jws_keys": {pf_kid: pf_pub},
        **shared,
    }
    platform_side = {
        "paas_id": pf_id,
        "paas_token_file": f"{platform.id}/platform.paas-token",
        "jws_kid": pf_kid,
        "jws_key_file": pf_key,
        "peer_paas": {gw_id: f"{platform.id}/gateway.paas-token"},
        "peer_jws_keys": {gw_kid: gw_pub},
        "licence_key_file": lic_key,
        "licence_cert_sn": cert_sn,
        **shared,
    }
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
        # a Refusal of ours (side=ours): permanent, like every refusal
        licence = self.ctx.adapter.decode("licence", response.body)
        signature = w.read_digital_sign(answer.data)
        # a Refusal of ours (side=ours): permanent, like every refusal
        verify_issuer_signature(licence, signature, self.ctx.link.licence_certs, "data.digitalSign")
        return LicenceAnswer(licence, signature)

    async def fetch_catalogue(self, page_no: int, page_size: int, since: datetime | None) -> CataloguePage:
        """§6.5: a TIF-signed GET with the JWS over the empty body; the page's JWS over its bytes."""
        if since is not None and since.tzinfo is not None:
            since = since.astimezone(BEIJING).replace(tzinfo=None)
        query = w.catalogue_query(page_no, page_size, since)
        response = await self.transport.send(self._signed("GET", w.CATALOGUE_PATH, b"", query))
        self._check(response)
        # a Refusal of ours (side=ours): permanent, like every refusal
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
