"""The hunan wire scheme in both roles (hunan.md §1-§5): OAuth 2.0 ``private_key_jwt`` and RFC 9421 signatures.

Client role (``Client``): fetches a bearer token from ``/oauth2/token`` with a fresh ES256 client assertion,
caches it (renewed 60 s before ``expires_in`` ends, and once more when a call is answered 401 ``AUTH_FAILED``),
signs every request anew (new ``created``/``nonce``), verifies every answer that is not a transient fault, and maps
answers to the delivery tree. Server role (``Endpoint``): README §10 step 1 in order, body size → bearer token (or
the client assertion at the token route) → message signature → window and nonce, then the adapter's decoding and
the business handler; every answer, refusals included, is signed. The scheme's arithmetic (assertion, form, string
to sign, headers) is pure and lives in ``adapters.hunan.scheme``; this module keeps state and speaks HTTP.

Both roles use one ``Link``: what this side signs with, and what the peer may sign with (allow-lists by key id,
one algorithm each: ES256 for assertions, Ed25519 for messages).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.base import Envelope
from adapters.hunan import scheme as hw
from adapters.hunan.codec import (
    PROBLEM_CONTENT_TYPE,
    Receipt,
    parse_problem,
    parse_receipt,
    receipt_status,
    render_problem,
)
from adapters.hunan.codec import render_receipt as _render_receipt
from adapters.jsonwire import dump_json
from adapters.linkfiles import LinkReader, write_file
from adapters.wire import HttpRequest, HttpResponse, Transport, lower_headers
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.dialects import LinkKeys
from gateway.errors import Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.records import Case, from_ref
from gateway.model.timefmt import BEIJING
from gateway.observability.refusals import note_refusal
from gateway.registry import Platform, item_codes_for
from gateway.wire.base import (
    Accepted,
    InboundCall,
    InboundHandler,
    PlatformClient,
    PlatformEndpoint,
    Route,
    WireContext,
    fault_of,
    log_fault,
)
from signing.devpki import generate_ed25519, generate_p256, private_key_pem, public_key_pem
from signing.errors import Replayed, SigningError
from signing.httpsig import SignatureResult
from signing.keys import (
    ALG_EDDSA,
    ALG_ES256,
    SigningKey,
    VerificationKey,
)
from signing.replay import InMemoryReplayGuard, ReplayGuard

from .tokens import Grant, TokenMinter

__all__ = ["Client", "Endpoint", "Link", "generate_link", "load_link"]

log = logging.getLogger(__name__)
_SOURCE = "hunan link settings"
_RENEW_EARLY = 60.0  # seconds before expires_in ends that the client fetches a new token
_MAX_RECEIPTS = 100_000


@dataclass(frozen=True, slots=True)
class Link:
    """One side of a hunan link. ``audience``: the token URL this side's endpoint requires as ``aud`` (empty: the
    URL the token request reached); ``peer_audience``: the ``aud`` this side's client writes (empty: the token URL
    it posts to)."""

    client_id: str
    assertion_key: SigningKey  # ES256, signs this side's client assertions (§2)
    signing_key: SigningKey  # Ed25519, signs this side's requests and responses (§3)
    peer_id: str
    peer_assertion_keys: Mapping[str, VerificationKey] = field(default_factory=dict)
    peer_signing_keys: Mapping[str, VerificationKey] = field(default_factory=dict)
    audience: str = ""
    peer_audience: str = ""

    def __repr__(self) -> str:
        return f"Link({self.client_id} ↔ {self.peer_id})"

    def key_material(self) -> LinkKeys:
        return LinkKeys(jose=(self.assertion_key, self.signing_key))


# --- configuration ----------------------------------------------------------------------------------------------------
def _signing_key(link: LinkReader, key: str, alg: str) -> SigningKey:
    return SigningKey(link.text(f"{key}_kid"), alg, link.private_key(key, alg))


def _peer_keys(link: LinkReader, key: str, alg: str) -> dict[str, VerificationKey]:
    return {kid: VerificationKey(kid, alg, public) for kid, public in link.public_keys(key, alg, required=True).items()}


def load_link(settings: Mapping[str, Any], base: Path) -> Link:
    """Read one side's ``[platforms.<id>.link]`` table; file paths are relative to ``base``."""
    link = LinkReader(_SOURCE, settings, base)
    return Link(
        client_id=link.text("client_id"),
        assertion_key=_signing_key(link, "assertion_key", ALG_ES256),  # §2
        signing_key=_signing_key(link, "signing_key", ALG_EDDSA),  # §3
        peer_id=link.text("peer_client_id"),
        peer_assertion_keys=_peer_keys(link, "peer_assertion_keys", ALG_ES256),
        peer_signing_keys=_peer_keys(link, "peer_signing_keys", ALG_EDDSA),
        audience=link.text("audience", required=False),
        peer_audience=link.text("peer_audience", required=False),
    )


def generate_link(folder: Path, platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh development credentials for ``platform`` under ``folder/<id>/`` (private keys mode 0600): the
    gateway's side and the platform's side of one link, as settings ``load_link`` reads relative to ``folder``."""
    home = folder / platform.id
    home.mkdir(parents=True, exist_ok=True)
    sides: dict[str, dict[str, Any]] = {}
    for side, client_id in (("gateway", "tongban-gw"), ("platform", platform.id)):
        entry: dict[str, Any] = {"client_id": client_id}
        for role, make in (("assertion", generate_p256), ("signing", generate_ed25519)):
            key = make()
            name = f"{side}-{role}"
            write_file(home / f"{name}.key.pem", private_key_pem(key), private=True)
            write_file(home / f"{name}.pub.pem", public_key_pem(key))
            entry[f"{role}_key"] = f"{platform.id}/{name}.key.pem"
            entry[f"{role}_key_kid"] = f"{client_id}-{'es256' if role == 'assertion' else 'ed25519'}-01"
        sides[side] = entry
    gateway, plat = sides["gateway"], sides["platform"]
    for mine, peer in ((gateway, plat), (plat, gateway)):
        mine["peer_client_id"] = peer["client_id"]
        for role in ("assertion", "signing"):
            mine[f"peer_{role}_keys"] = {peer[f"{role}_key_kid"]: peer[f"{role}_key"].replace(".key.", ".pub.")}
    return gateway, plat


def _nonce() -> str:
    return secrets.token_urlsafe(16)


# --- client role ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    renew_at: float


class Client(PlatformClient):
    """Cases and status events towards ``ctx.base_url`` (§1), plus ``read_case`` (see the module docstring)."""

    def __init__(self, ctx: WireContext, transport: Transport) -> None:
        super().__init__(ctx, transport)
        self.link: Link = ctx.link
        self.base = ctx.base_url.rstrip("/")
        self.token_fetches = 0
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._answers = InMemoryReplayGuard(window=hw.WINDOW, ttl=hw.NONCE_TTL)

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        """POST the record (§6.1 case, §6.2 status event); hunan carries no message id (idempotency is the
        record's own ``(case_no, version/sequence)``, so a retry after a lost answer gets the first receipt)."""
        if record_type == "case":
            path = hw.CASES_PATH
        elif record_type == "status":
            path = hw.status_path(record.case_no)
        else:
            raise Refusal(C.UNSUPPORTED_TYPE, None, f"the hunan dialect does not carry {record_type} records")
        now = self.ctx.clock()
        envelope = Envelope(message_id, datetime.fromtimestamp(int(now), BEIJING), message_id)
        codes = item_codes_for(self.ctx.adapter.tables, self.ctx.platform)  # what intake checked (one function)
        body = self.ctx.adapter.encode(record_type, record, envelope, codes)
        response = await self._authorized("POST", path, body)
        if response.status not in (200, 201, 202):
            raise self._refusal(response)
        try:
            receipt = parse_receipt(response.body)
        except Refusal as exc:
            raise ServerError("unreadable answer") from exc
        if receipt.case_no != record.case_no:
            raise ServerError("receipt names another case")
        return Accepted(f"{receipt.case_no}@{receipt.received_at.isoformat()}", repeated=response.status == 200)

    async def read_case(self, case_no: str) -> Case | None:
        """``GET /api/v2/cases/{case_no}`` (signed without a body): the case as the platform holds it, or ``None``."""
        response = await self._authorized("GET", hw.case_path(case_no), None)
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._refusal(response)
        record: Case = self.ctx.adapter.decode("case", response.body)
        return record

    # --- one exchange ---------------------------------------------------------------------------------------------
    async def _authorized(self, method: str, path: str, body: bytes | None) -> HttpResponse:
        token = await self._bearer()
        response = await self._exchange(method, path, body, hw.JSON_CONTENT_TYPE, token)
        if response.status == 401 and self._code(response) == C.AUTH_FAILED:
            token = await self._bearer(stale=token)  # §2: an expired or unknown token; fetch one more, once
            response = await self._exchange(method, path, body, hw.JSON_CONTENT_TYPE, token)
        return response

    async def _exchange(
        self, method: str, path: str, body: bytes | None, content_type: str, token: str | None
    ) -> HttpResponse:
        url = hw.target_uri(self.base + path)
        now = self.ctx.clock()
        headers = hw.sign_request(
            method,
            url,
            body,
            content_type if body is not None else None,
            self.link.signing_key,
            created=int(now),
            nonce=_nonce(),
        )
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.transport.send(HttpRequest(method, url, lower_headers(headers), body or b""))
        return await self._verified(response)

    async def _verified(self, response: HttpResponse) -> HttpResponse:
        """Transient faults pass unverified (a forged one only causes a retry); everything else must be signed."""
        now = self.ctx.clock()
        if response.status == 429:
            raise Throttled("HTTP 429", retry_after=parse_retry_after(response.header("retry-after"), now))
        if response.status >= 500:
            raise ServerError(f"HTTP {response.status}", parse_retry_after(response.header("retry-after"), now))
        try:
            result: SignatureResult = hw.verify_response(
                response.status, response.headers, response.body, self.link.peer_signing_keys
            )
            await self._answers.check(f"hunan:answer:{result.keyid}", result.nonce, result.created, now)
        except SigningError as exc:
            raise ServerError("unverified answer") from exc
        return response

    @staticmethod
    def _code(response: HttpResponse) -> C | None:
        try:
            return parse_problem(response.body).code
        except Refusal:
            return None

    @staticmethod
    def _refusal(response: HttpResponse) -> Exception:
        try:
            problem = parse_problem(response.body)
        except Refusal:
            return ServerError(f"unreadable answer (HTTP {response.status})")
        if problem.code is None:
            return ServerError(f"HTTP {response.status}")
        return Refusal(problem.code, problem.field, f"HTTP {response.status}", side=Side.PEER)

    # --- §2 token -------------------------------------------------------------------------------------------------
    async def _bearer(self, stale: str | None = None) -> str:
        """The cached token, or a new one; one fetch at a time, and a token another caller already replaced is
        not fetched again."""
        async with self._lock:
            token = self._token
            if token is not None and token.value != stale and self.ctx.clock() < token.renew_at:
                return token.value
            self._token = None
            self._token = await self._fetch_token()
            return self._token.value

    async def _fetch_token(self) -> _Token:
        url = hw.target_uri(self.base + hw.TOKEN_PATH)
        now = self.ctx.clock()
        audience = self.link.peer_audience or url
        assertion = hw.make_client_assertion(
            self.link.assertion_key, self.link.client_id, audience, str(uuid.uuid4()), now
        )
        self.token_fetches += 1
        response = await self._exchange(
            "POST", hw.TOKEN_PATH, hw.token_request_body(assertion), hw.FORM_CONTENT_TYPE, None
        )
        if response.status != 200:
            raise self._refusal(response)
        try:
            answer = hw.parse_token_answer(response.body)
        except Refusal as exc:
            raise ServerError("unreadable token answer") from exc
        early = _RENEW_EARLY if answer.expires_in > 2 * _RENEW_EARLY else answer.expires_in / 2
        return _Token(answer.access_token, now + answer.expires_in - early)


# --- server role ------------------------------------------------------------------------------------------------------
_Work = Callable[[float], Awaitable[HttpResponse]]


class Endpoint(PlatformEndpoint):
    """The platform's side of §1-§5 (see the module docstring). Operations ``case`` and ``status``."""

    def __init__(self, ctx: WireContext, replay: ReplayGuard, handler: InboundHandler) -> None:
        super().__init__(ctx, replay, handler)
        self.link: Link = ctx.link
        self._tokens = TokenMinter(self.link.signing_key, self.link.client_id)  # every instance accepts (§2)
        self._received_at: OrderedDict[str, datetime] = OrderedDict()  # handlers without a store only (see below)

    def routes(self) -> list[Route]:
        return [
            Route("POST", hw.TOKEN_PATH, self._token_route),
            Route("POST", hw.CASES_PATH, self._case_route),
            Route("POST", hw.CASES_PATH + "/{case_no}/status-events", self._status_route),
            Route("GET", hw.CASES_PATH + "/{case_no}", self._read_route),
        ]

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        now = self.ctx.clock()
        note_refusal(rejection)  # counted and logged once, at the gateway's partner edge
        problem = render_problem(rejection, request.params.get("case_no"))
        return self._answer(rejection.http_status, problem, PROBLEM_CONTENT_TYPE, now)

    # --- routes -----------------------------------------------------------------------------------------------------
    async def _token_route(self, request: HttpRequest) -> HttpResponse:
        async def work(now: float) -> HttpResponse:
            body = request.body
            if _media_type(request) != hw.FORM_CONTENT_TYPE:
                raise Refusal(C.AUTH_FAILED, None, "the token request is not form-encoded")
            form = hw.read_token_request(body)
            audience = self.link.audience or hw.target_uri(request.url)
            try:
                assertion = hw.verify_client_assertion(
                    form.assertion, self.link.peer_assertion_keys, self.link.peer_id, audience, now
                )
                await self.replay.check(f"hunan:jti:{assertion.client_id}", assertion.jti, assertion.iat, now)
            except SigningError as exc:  # a refused or reused assertion: the client is not authenticated (§2)
                raise Refusal(C.AUTH_FAILED, None, exc.reason) from exc
            await self._message(request, body, now)
            token = self._tokens.mint(assertion.client_id, form.scope, now, hw.TOKEN_LIFETIME)
            answer = hw.TokenAnswer(token, hw.TOKEN_LIFETIME, form.scope)
            return self._answer(200, hw.render_token_answer(answer), hw.JSON_CONTENT_TYPE, now)

        return await self._serve(work, None)

    async def _case_route(self, request: HttpRequest) -> HttpResponse:
        return await self._serve(lambda now: self._submission(request, "case", None, now), None)

    async def _status_route(self, request: HttpRequest) -> HttpResponse:
        case_no = request.params["case_no"]
        return await self._serve(lambda now: self._submission(request, "status", case_no, now), case_no)

    async def _read_route(self, request: HttpRequest) -> HttpResponse:
        case_no = request.params["case_no"]

        async def work(now: float) -> HttpResponse:
            await self._admit(request, None, "kstb.case", now)
            record = self._find_case(case_no)
            if record is None:
                return self._answer(404, hw.render_not_found(), PROBLEM_CONTENT_TYPE, now)
            envelope = Envelope(case_no, datetime.fromtimestamp(int(now), BEIJING), case_no)
            body = self.ctx.adapter.encode("case", record, envelope, self._item_codes())
            return self._answer(200, body, hw.JSON_CONTENT_TYPE, now)

        return await self._serve(work, case_no)

    # --- steps ------------------------------------------------------------------------------------------------------
    async def _submission(
        self, request: HttpRequest, operation: str, path_case_no: str | None, now: float
    ) -> HttpResponse:
        body = request.body
        grant = await self._admit(request, body, f"kstb.{operation}", now)
        try:  # past the transport checks, a refusal names the case (§4 example)
            if _media_type(request) != hw.JSON_CONTENT_TYPE:
                raise Refusal(C.MALFORMED, None, "the body must be application/json")
            record = self.ctx.adapter.decode(operation, body)
            if path_case_no is not None and record.case_no != path_case_no:
                raise Refusal(C.RULE_VIOLATION, "case_no", "the body's case_no differs from the path's (§1)")
            call = InboundCall(
                self.ctx.platform.id, grant.client_id, operation, record, None, body, headers=request.headers
            )
            result = await self.handler(call)
        except Refusal as exc:
            note_refusal(exc)  # counted and logged once, at the gateway's partner edge
            problem = render_problem(exc, path_case_no or hw.case_no_hint(body))
            return self._answer(exc.http_status, problem, PROBLEM_CONTENT_TYPE, now)
        if not isinstance(result, Accepted):
            raise TypeError("the business handler answered a submission with something else than Accepted")
        # §1: a repeat answers the first result, on every instance and after a restart: the gateway's handler gives
        # the first acceptance time from the store's inbound record (``Accepted.received_at``); a handler that keeps
        # no such record (the simulator's book) leaves it None, and this endpoint remembers its own first answers
        if result.received_at is not None:
            received_at = datetime.fromtimestamp(int(result.received_at), BEIJING)
        else:
            received_at = self._received_at.setdefault(result.receipt_no, datetime.fromtimestamp(int(now), BEIJING))
            while len(self._received_at) > _MAX_RECEIPTS:
                self._received_at.popitem(last=False)
        status = receipt_status(operation, repeated=result.repeated)
        return self._answer(status, _render_receipt(Receipt(record.case_no, received_at)), hw.JSON_CONTENT_TYPE, now)

    async def _admit(self, request: HttpRequest, body: bytes | None, scope: str, now: float) -> Grant:
        """Bearer token (§2) → message signature and window/nonce (§3)."""
        token = hw.bearer_token(request.header("Authorization"))
        grant = self._tokens.grant(token, now) if token is not None else None
        if grant is None:
            raise Refusal(C.AUTH_FAILED, None, "bearer token is missing, unknown or expired")
        if scope not in grant.scope:
            raise Refusal(C.AUTH_FAILED, None, "the token's scope does not cover this call")
        await self._message(request, body, now)
        return grant

    async def _message(self, request: HttpRequest, body: bytes | None, now: float) -> None:
        try:
            result = hw.verify_request(
                request.method, hw.target_uri(request.url), request.headers, body, self.link.peer_signing_keys
            )
        except SigningError as exc:
            raise Refusal(C.SIGNATURE_INVALID, None, exc.reason) from exc
        try:
            await self.replay.check(f"hunan:nonce:{result.keyid}", result.nonce, result.created, now)
        except Replayed as exc:
            raise Refusal(C.REPLAYED, None, exc.reason) from exc

    def _find_case(self, case_no: str) -> Case | None:
        """The latest version of a case the business side holds. Workaround until the wire interface has a read
        operation: a simulator's handler exposes its ``RecordBook`` as ``book``; any other handler holds none."""
        book = getattr(self.handler, "book", None)
        snapshot = getattr(book, "snapshot", None)
        if not callable(snapshot):
            return None
        found: list[dict[str, Any]] = [e["record"] for e in snapshot("case") if e["record"].get("case_no") == case_no]
        if not found:
            return None
        latest = max(found, key=lambda r: int(r.get("version", 0)))
        values = dict(latest)
        values["submitted_at"] = datetime.fromisoformat(values["submitted_at"])
        return from_ref(Case, values)

    def _item_codes(self) -> Mapping[str, str] | None:
        return item_codes_for(self.ctx.adapter.tables, self.ctx.platform)  # what intake checked (one function)

    # --- answers ----------------------------------------------------------------------------------------------------
    async def _serve(self, work: _Work, case_no: str | None) -> HttpResponse:
        now = self.ctx.clock()
        try:
            return await work(now)
        except Refusal as exc:
            note_refusal(exc)  # counted and logged once, at the gateway's partner edge
            return self._answer(exc.http_status, render_problem(exc, case_no), PROBLEM_CONTENT_TYPE, now)
        except Exception as exc:  # never a 500 page: a signed §4 platform fault (5xx), retried by the client
            fault = fault_of(exc)
            log_fault(log, self.ctx.platform.id, "call", exc, fault)
            title = "Platform unavailable" if fault.retryable else "Platform fault"
            problem = {"type": "about:blank", "title": title, "status": fault.status, "code": fault.code}
            return self._answer(fault.status, dump_json(problem), PROBLEM_CONTENT_TYPE, now, fault.headers)

    def _answer(
        self, status: int, body: bytes, content_type: str, now: float, extra: dict[str, str] | None = None
    ) -> HttpResponse:
        headers = hw.sign_response(status, body, content_type, self.link.signing_key, created=int(now), nonce=_nonce())
        return HttpResponse(status, lower_headers({**headers, **(extra or {})}), body)


def _media_type(request: HttpRequest) -> str:
    return (request.header("Content-Type") or "").split(";")[0].strip().lower()
