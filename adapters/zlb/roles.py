"""The zlb wire scheme (zlb.md §1-§5) in both roles: IRS application keys, SM2-signed bodies, §4 envelopes.

- ``Link``/``load_link``/``generate_link``: one side's credentials (the shared appKey/appSecret, its own SM2 key
  and certificate serial, the peer's registered SM2 certificates, licence issuers' keys).
- ``Client``: calls a zlb platform: fetches and renews the ``requestSecret`` (§2), signs every call afresh, verifies
  the signed answer and maps it to a result or the delivery exception tree.
- ``Endpoint``: serves the §1 routes as the platform does, checks in README §10 order (size → IRS sign → SM2 →
  window and replay → decoding) and answers every refusal as a signed §4 envelope, never a bare 500.
- ``install_simulator_extras``: the simulated platform answers licence queries from a ``LicenceLibrary``.

The scheme's pure parts (strings to sign, header forms, codes) are ``adapters.zlb.scheme``; this module adds the
clock, the transport, the server and the state (issued and cached requestSecrets).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from adapters.base import Envelope
from adapters.wire import HttpRequest, HttpResponse, Transport, lower_headers
from adapters.zlb.codec import ZlbAdapter, ZlbResponse, dump_response, parse_response, request_time
from adapters.zlb.scheme import (
    OPERATION_PATHS,
    REQUEST_TIME,
    SECRET_EXPIRED,
    SECRET_LIFETIME_MS,
    TOKEN_BY_KEY_PATH,
    TOKEN_BY_SEC_PATH,
    AuthQuery,
    SecretBook,
    SecretExpired,
    TokenGrant,
    auth_query,
    check_window,
    licence_sign_datas,
    peek_request_id,
    read_auth_query,
    read_token_datas,
    replay_nonce,
    response_code,
    sm2_headers,
    token_datas,
    verify_irs_sign,
    verify_licence_sign,
    verify_sm2_headers,
)
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.errors import ConfigError, Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.records import Licence, LicenceQuery
from gateway.model.timefmt import BEIJING
from gateway.observability.refusals import note_refusal
from gateway.registry import item_codes_for
from gateway.wire.base import (
    Accepted,
    InboundCall,
    InboundHandler,
    InboundResult,
    LicenceAnswer,
    PlatformClient,
    PlatformEndpoint,
    Route,
    RouteHandler,
    WireContext,
    fault_of,
    log_fault,
)
from signing.errors import Replayed, SigningError
from signing.replay import ReplayGuard
from signing.secret import Secret

from .link import Link, generate_link, load_link

__all__ = ["Client", "Endpoint", "Link", "generate_link", "load_link"]

log = logging.getLogger(__name__)

SUBMISSIONS = ("case", "status", "evaluation")
_SOURCE = "zlb link settings"
_MSG = {"00": "成功", "10": "参数校验失败", "14": "签名错误", "15": "请求密钥已过期", "16": "SM2签名无效",
        "17": "请求体过大", "99": "平台故障，请稍后重试"}  # fmt: skip
#: Decision (zlb.md silent on HTTP statuses): refusals keep the statuses of the gateway's problem documents.
_STATUS = {"00": 200, "14": 401, "15": 401, "16": 401, "17": 413, "99": 500}


# --- the server role ----------------------------------------------------------------------------------------------
def _now_ms(clock_value: float) -> int:
    return round(clock_value * 1000)


_Serve = Callable[[HttpRequest, dict[str, str]], Awaitable[HttpResponse]]


class Endpoint(PlatformEndpoint):
    """The §1 routes as the platform serves them; issues and tracks requestSecrets per appKey (§2)."""

    def __init__(self, ctx: WireContext, replay: ReplayGuard, handler: InboundHandler) -> None:
        super().__init__(ctx, replay, handler)
        if not isinstance(ctx.adapter, ZlbAdapter):
            raise ConfigError(_SOURCE, "dialect", "the zlb scheme needs the zlb adapter", "register zlb")
        self.adapter: ZlbAdapter = ctx.adapter
        self.link: Link = ctx.link
        self.secrets = SecretBook()

    def routes(self) -> list[Route]:
        # no HEAD: a token request issues a secret, and an answer without a body would lose it
        routes = [
            Route("GET", TOKEN_BY_KEY_PATH, self._token_by_key, allow_head=False),
            Route("GET", TOKEN_BY_SEC_PATH, self._token_by_sec, allow_head=False),
        ]
        routes += [Route("POST", path, self._operation(operation)) for operation, path in OPERATION_PATHS.items()]
        return routes

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        return self._refuse(rejection, "")  # the body (and its requestId) was not read

    # --- answers ------------------------------------------------------------------------------------------------
    def _answer(
        self,
        code: str,
        datas: dict[str, Any] | None,
        request_id: str,
        status: int = 0,
        extra: dict[str, str] | None = None,
    ) -> HttpResponse:
        body = dump_response(code, datas, request_id, msg=_MSG[code])
        signed = sm2_headers(self.link.sign_key, self.link.cert_sn, body)
        headers = {"content-type": self.adapter.content_type, **lower_headers(signed), **(extra or {})}
        return HttpResponse(status or _STATUS[code], headers, body)

    def _refuse(self, exc: Refusal, request_id: str) -> HttpResponse:
        note_refusal(exc)  # counted and logged once, at the gateway's partner edge
        code = response_code(exc, secret_expired=isinstance(exc, SecretExpired))
        if code != "10":
            return self._answer(code, None, request_id)
        datas = {"errorCode": exc.code.value, **({"field": exc.where} if exc.where else {})}
        return self._answer(code, datas, request_id, status=exc.http_status)

    async def _guarded(self, request: HttpRequest, serve: _Serve) -> HttpResponse:
        """README §10 at the edge: every refusal becomes a signed §4 envelope; a bug becomes code 99, not a page."""
        state: dict[str, str] = {"request_id": ""}
        try:
            return await serve(request, state)
        except Refusal as exc:
            return self._refuse(exc, state["request_id"])
        except Replayed as exc:
            return self._refuse(Refusal(C.REPLAYED, REQUEST_TIME, exc.reason), state["request_id"])
        except SigningError as exc:  # SignatureInvalid, UnknownKey, KeyInvalid: all code 16 (§3)
            return self._refuse(Refusal(C.SIGNATURE_INVALID, "X-Sm2-Sign", exc.reason), state["request_id"])
        except Exception as exc:  # the edge: never a traceback to the caller; §4 code 99, "retry later"
            fault = fault_of(exc)
            log_fault(log, self.ctx.platform.id, request.path, exc, fault)
            return self._answer("99", None, state["request_id"], status=fault.status, extra=fault.headers)

    # --- README §10 step 1 ------------------------------------------------------------------------------------------
    def _authenticate(self, auth: AuthQuery, now_ms: int) -> None:
        if auth.app_key != self.link.app_key:
            raise Refusal(C.AUTH_FAILED, "appKey", "unknown appKey")
        self.secrets.check(auth, now_ms)

    async def _check_replay(self, auth: AuthQuery, now: float, signature: bytes = b"") -> None:
        now_ms = _now_ms(now)
        check_window(auth.request_time, now_ms)
        scope = f"zlb:{self.ctx.platform.id}:{auth.app_key}"
        await self.replay.check(scope, replay_nonce(auth, signature), auth.request_time / 1000, now_ms / 1000)

    def _issue(self, app_key: str, now_ms: int) -> HttpResponse:
        """A new requestSecret, valid 15 min (§2.1).

        Decision (zlb.md silent on the refreshSecret's use): it is issued, valid 15 min beyond the requestSecret,
        and not needed by refreshTokenBySec.htm, which §1 signs with the current requestSecret.
        """
        end = now_ms + SECRET_LIFETIME_MS
        grant = TokenGrant(Secret(secrets.token_hex(16)), Secret(secrets.token_hex(16)), end, end + SECRET_LIFETIME_MS)
        self.secrets.add(app_key, grant.request_secret, end)
        return self._answer("00", token_datas(grant), "")

    # --- routes --------------------------------------------------------------------------------------------------
    async def _token_by_key(self, request: HttpRequest) -> HttpResponse:
        """§2.1, authenticated by the appSecret. Decision: token GETs have no body, so they carry no SM2 signature."""

        async def serve(request: HttpRequest, state: dict[str, str]) -> HttpResponse:
            now = self.ctx.clock()
            auth = read_auth_query(request.query)
            app_key, secret = self.link.app_key, self.link.app_secret
            if auth.app_key != app_key or not verify_irs_sign(app_key, secret, auth.request_time_text, auth.sign):
                raise Refusal(C.AUTH_FAILED, "sign", "appKey or sign does not match")
            await self._check_replay(auth, now)
            return self._issue(auth.app_key, _now_ms(now))

        return await self._guarded(request, serve)

    async def _token_by_sec(self, request: HttpRequest) -> HttpResponse:
        """§1: renewal, signed with the current (live) requestSecret."""

        async def serve(request: HttpRequest, state: dict[str, str]) -> HttpResponse:
            now = self.ctx.clock()
            auth = read_auth_query(request.query)
            self._authenticate(auth, _now_ms(now))
            await self._check_replay(auth, now)
            return self._issue(auth.app_key, _now_ms(now))

        return await self._guarded(request, serve)

    def _operation(self, operation: str) -> RouteHandler:
        async def serve(request: HttpRequest, state: dict[str, str]) -> HttpResponse:
            now = self.ctx.clock()
            body = request.body
            auth = read_auth_query(request.query)
            self._authenticate(auth, _now_ms(now))
            _, signature = verify_sm2_headers(request.headers, body, self.link.peer_certs)
            state["request_id"] = request_id = peek_request_id(body)
            await self._check_replay(auth, now, signature)
            record = self.adapter.decode_request(operation, body, auth.request_time_text)
            call = InboundCall(
                self.ctx.platform.id, auth.app_key, operation, record, request_id or None, body, headers=request.headers
            )
            return self._answer("00", self._datas(await self.handler(call)), request_id)

        async def handle(request: HttpRequest) -> HttpResponse:
            return await self._guarded(request, serve)

        return handle

    def _datas(self, result: InboundResult) -> dict[str, Any]:
        if isinstance(result, Accepted):
            return {"receiptNo": result.receipt_no}
        if isinstance(result, LicenceAnswer):
            datas = self.adapter.mapping("licence").encode(result.licence)
            if result.signature is not None:
                datas["digitalSign"] = licence_sign_datas(result.signature)
            return datas
        raise TypeError(f"a zlb endpoint cannot answer {type(result).__name__}")


# --- the client role ----------------------------------------------------------------------------------------------
class Client(PlatformClient):
    """Calls a zlb platform at ``ctx.base_url``; one requestSecret per Client, renewed ``renew_early_ms`` early."""

    renew_early_ms = 60_000
    timeout = 30.0

    def __init__(self, ctx: WireContext, transport: Transport) -> None:
        super().__init__(ctx, transport)
        self.link: Link = ctx.link
        self._grant: TokenGrant | None = None
        self._lock = asyncio.Lock()
        self._item_codes = item_codes_for(ctx.adapter.tables, ctx.platform)  # what intake checked (one function)

    # --- the requestSecret (§2) -------------------------------------------------------------------------------------
    async def _secret(self) -> Secret:
        grant = self._grant
        if grant is not None and _now_ms(self.ctx.clock()) < grant.request_secret_end - self.renew_early_ms:
            return grant.request_secret
        async with self._lock:  # one refresh at a time; latecomers find the fresh grant
            grant, now_ms = self._grant, _now_ms(self.ctx.clock())
            if grant is None or now_ms >= grant.request_secret_end - self.renew_early_ms:
                live = grant is not None and now_ms < grant.request_secret_end
                self._grant = grant = await self._fetch(grant if live else None)
            return grant.request_secret

    async def _renew_after_expiry(self, stale: Secret) -> None:
        """Code 15: fetch a new requestSecret with the appSecret, unless a concurrent call already did."""
        async with self._lock:
            if self._grant is None or self._grant.request_secret is stale:
                self._grant = None
                self._grant = await self._fetch(None)

    async def _fetch(self, current: TokenGrant | None) -> TokenGrant:
        """§2: renew with refreshTokenBySec.htm while the current secret lives, else refreshTokenByKey.htm."""
        if current is not None:
            try:
                return await self._token(TOKEN_BY_SEC_PATH, current.request_secret)
            except Refusal:  # only the platform's own refusal reaches here (_token maps the rest to ServerError)
                log.info("zlb: renewal by requestSecret refused; asking with the appSecret")
        return await self._token(TOKEN_BY_KEY_PATH, self.link.app_secret)

    async def _token(self, path: str, secret: Secret) -> TokenGrant:
        query = auth_query(self.link.app_key, secret, _now_ms(self.ctx.clock()))
        http = await self.transport.send(HttpRequest("GET", self._url(path, query)), timeout=self.timeout)
        response = self._verified(http)
        self._raise_for(response, None)
        try:
            return read_token_datas(response.datas)
        except Refusal as exc:
            raise ServerError("unreadable answer") from exc

    # --- one call ---------------------------------------------------------------------------------------------------
    def _url(self, path: str, query: Mapping[str, str]) -> str:
        return f"{self.ctx.base_url.rstrip('/')}{path}?{urlencode(query)}"

    def _verified(self, http: HttpResponse) -> ZlbResponse:
        """Status faults first (a proxy's or the fault plan's answers are unsigned), then §3, then §4."""
        retry_after = parse_retry_after(http.header("retry-after"), self.ctx.clock())
        if http.status == 429:
            raise Throttled("HTTP 429", retry_after)
        if http.status >= 500:
            raise ServerError(f"HTTP {http.status}", retry_after)
        try:
            verify_sm2_headers(http.headers, http.body, self.link.peer_certs)
        except SigningError as exc:  # the platform may have accepted it: retry under the same requestId
            raise ServerError("unverified answer") from exc
        try:
            return parse_response(http.body)
        except Refusal as exc:
            raise ServerError("unreadable answer") from exc

    def _raise_for(self, response: ZlbResponse, request_id: str | None) -> None:
        if response.ok:
            if request_id is not None and response.request_id != request_id:
                raise ServerError("unverified answer")  # a signed answer, but to another request
            return
        if response.retry_later:
            raise ServerError("platform fault")
        rejection = response.rejection()
        if rejection is None:  # parse_response admits only §4 codes; 00 and 99 are handled above
            raise ServerError("unreadable answer")
        raise Refusal(rejection.code, rejection.where, response.msg, side=Side.PEER)  # its code parsed by the codec

    async def _call(self, operation: str, record: Any, message_id: str) -> HttpResponse:
        """Render, sign, send and verify; on code 15 renew the requestSecret once and call again (§2.3).

        Each attempt is a new message: a new requestTime (head and query), sign and SM2 signature; the requestId
        stays ``message_id``, the transport-level idempotency key.
        """
        for attempt in (1, 2):
            secret = await self._secret()
            sent_at = datetime.fromtimestamp(self.ctx.clock(), BEIJING)
            envelope = Envelope(message_id, sent_at, message_id, sender=self.link.app_key)
            # the record cannot be written in zlb: sending it again cannot help
            body = self.ctx.adapter.encode(operation, record, envelope, self._item_codes)
            query = auth_query(self.link.app_key, secret, request_time(sent_at))
            signed = sm2_headers(self.link.sign_key, self.link.cert_sn, body)
            headers = {"content-type": self.ctx.adapter.content_type, **signed}
            url = self._url(OPERATION_PATHS[operation], query)
            http = await self.transport.send(HttpRequest("POST", url, headers, body), timeout=self.timeout)
            response = self._verified(http)
            if response.code == SECRET_EXPIRED and attempt == 1:
                await self._renew_after_expiry(secret)
                continue
            self._raise_for(response, message_id)
            return http
        raise ServerError("requestSecret refused twice")  # not reached: the second code 15 raises above

    # --- PlatformClient -------------------------------------------------------------------------------------------
    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        if record_type not in SUBMISSIONS:
            return await super().submit(record_type, record, message_id)
        datas = parse_response((await self._call(record_type, record, message_id)).body).datas or {}
        receipt = datas.get("receiptNo")
        if not isinstance(receipt, str) or not receipt:
            raise ServerError("unreadable answer")
        return Accepted(receipt)  # §4 does not say whether a receipt is a repeat: the number is the first one

    async def query_licence(self, query: LicenceQuery, message_id: str) -> LicenceAnswer:
        """The licence and its verified issuer signature (zlb.md §6.4, anhui.md §6.6).

        Decision: a licence that does not decode, or whose ``digitalSign`` is missing or does not verify under an
        allow-listed issuer, is a ``Refusal`` of ours (at ``datas.…``): the answer itself was signed, so asking
        again returns the same licence.
        """
        http = await self._call("licence_query", query, message_id)
        # a Refusal of ours (side=ours): permanent, like every refusal
        licence: Licence = self.ctx.adapter.decode("licence", http.body)
        datas = parse_response(http.body).datas or {}
        # a Refusal of ours (side=ours): permanent, like every refusal
        signature = verify_licence_sign(licence, datas.get("digitalSign"), self.link.licence_issuers)
        return LicenceAnswer(licence, signature)


# --- the simulator ------------------------------------------------------------------------------------------------
