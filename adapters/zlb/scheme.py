"""The zlb wire scheme as pure functions: the IRS application-key scheme and the SM2 body signature (zlb.md §1-§5).

Both roles compose the same pieces, so they live here once, with no I/O, no clock and no HTTP client: the caller
passes ``now`` (epoch ms), the secrets and the keys.

- IRS (§2): ``refreshTokenByKey.htm`` is authenticated by ``md5(appKey + appSecret + requestTime)``, every business
  call and ``refreshTokenBySec.htm`` by ``md5(appKey + requestSecret + requestTime)``, both lower-case hex in the
  ``sign`` query parameter (``irs_sign``, ``auth_query``, ``read_auth_query``, ``verify_irs_sign``);
  a ``requestTime`` more than 300 000 ms from the receiver's clock is ``REPLAYED`` (``check_window``).
- SM2 (§3): every request and response body is signed by its sender with SM2-with-SM3 (user id
  ``1234567812345678``), DER, standard Base64 in ``X-Sm2-Sign``, and names the signer's registered certificate by
  its serial (lower-case hex) in ``X-Sm2-Cert-Sn`` (``sm2_headers``, ``verify_sm2_headers``).
- Answers (§4): the response code a refusal travels with (``response_code``) and the token grant of §2.1
  (``token_datas``, ``read_token_datas``).
- Replay (README §10 step 1): ``replay_nonce`` names one signed request exactly (see its docstring).
- The receiver's bookkeeping of issued requestSecrets (``SecretBook``: code 14 or 15), the issuer's licence
  signature carried in ``datas.digitalSign`` (``verify_licence_sign``, anhui.md §6.6), and the ``requestId`` to
  echo (``peek_request_id``).

Failures are ``signing.errors`` types (the scheme's) or ``Refusal`` (README §10 codes); the edge renders them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.jsonwire import parse_json
from adapters.licence_sign import verify_issuer_signature
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature
from gateway.model.records import Licence
from signing.b64 import b64decode_strict
from signing.digests import md5_hex
from signing.errors import SignatureInvalid, UnknownKey
from signing.secret import Secret
from signing.sm import sm2_sign_b64, sm2_verify

__all__ = [
    "APP_KEY",
    "CERT_SN_HEADER",
    "OPERATION_PATHS",
    "REQUEST_TIME",
    "SECRET_EXPIRED",
    "SECRET_LIFETIME_MS",
    "SIGN",
    "SIGN_HEADER",
    "SIGN_WRONG",
    "TOKEN_BY_KEY_PATH",
    "TOKEN_BY_SEC_PATH",
    "WINDOW_MS",
    "AuthQuery",
    "SecretBook",
    "SecretExpired",
    "TokenGrant",
    "auth_query",
    "check_window",
    "irs_sign",
    "is_cert_sn",
    "licence_sign_datas",
    "peek_request_id",
    "read_auth_query",
    "read_token_datas",
    "replay_nonce",
    "response_code",
    "sm2_headers",
    "token_datas",
    "verify_irs_sign",
    "verify_licence_sign",
    "verify_sm2_headers",
]

# --- §1, §2, §3 constants --------------------------------------------------------------------------------------------
TOKEN_BY_KEY_PATH = "/gateway/app/refreshTokenByKey.htm"  # noqa: S105 (a path, not a password)
TOKEN_BY_SEC_PATH = "/gateway/app/refreshTokenBySec.htm"  # noqa: S105
#: operation → the §1 path of its POST (relative to the host, as the document writes it)
OPERATION_PATHS: dict[str, str] = {
    "case": "/gateway/api/kstb/caseSubmit",
    "status": "/gateway/api/kstb/caseStatus",
    "evaluation": "/gateway/api/kstb/evaluationPush",
    "licence_query": "/gateway/api/kstb/licenceQuery",
}
APP_KEY, REQUEST_TIME, SIGN = "appKey", "requestTime", "sign"
SIGN_HEADER = "x-sm2-sign"  # header names lower-case (adapters.wire)
CERT_SN_HEADER = "x-sm2-cert-sn"
WINDOW_MS = 300_000  # §2.3
SECRET_LIFETIME_MS = 15 * 60 * 1000  # §2.1: the requestSecret is valid for 15 minutes

_DIGITS = re.compile(r"[0-9]{1,16}")
_CERT_SN = re.compile(r"[0-9a-f]{1,40}")  # X.509 serials are at most 20 octets (RFC 5280 §4.1.2.2)
_MD5_HEX = re.compile(r"[0-9a-f]{32}")
_MAX_APP_KEY = 128

#: §4 response code for each refusal; the others travel as code ``10`` with ``datas.errorCode``
_RESPONSE_CODES: dict[C, str] = {C.SIGNATURE_INVALID: "16", C.BODY_TOO_LARGE: "17"}
SIGN_WRONG, SECRET_EXPIRED = "14", "15"


# --- IRS application-key authentication (§2) ------------------------------------------------------------------------
def irs_sign(app_key: str, secret: Secret, request_time: int | str) -> str:
    """§2: lower-case hex MD5 over the UTF-8 of ``appKey + secret + requestTime`` (plain concatenation).

    ``secret`` is the appSecret for ``refreshTokenByKey.htm`` and the requestSecret for everything else.
    """
    return md5_hex(f"{app_key}{secret.reveal_str()}{request_time}")


def verify_irs_sign(app_key: str, secret: Secret, request_time: str, given: str) -> bool:
    """Whether ``given`` is the §2 sign of ``request_time`` (as written in the query) under ``secret``.

    A bool, not an exception: the receiver tries its live and expired requestSecrets in turn to tell code 14 from 15.
    Compared in constant time.
    """
    return hmac.compare_digest(irs_sign(app_key, secret, request_time), given)


@dataclass(frozen=True, slots=True)
class AuthQuery:
    """The three §2 query parameters of a call. ``request_time_text`` is kept as written: the sign is over it."""

    app_key: str
    request_time: int
    request_time_text: str
    sign: str

    def __repr__(self) -> str:  # the sign is a credential for as long as its requestTime is in the window
        return f"AuthQuery(app_key={self.app_key!r}, request_time={self.request_time})"


def auth_query(app_key: str, secret: Secret, request_time: int) -> dict[str, str]:
    """The §2 query parameters of a call made at ``request_time`` (epoch ms), in the document's order."""
    return {APP_KEY: app_key, REQUEST_TIME: str(request_time), SIGN: irs_sign(app_key, secret, request_time)}


def read_auth_query(query: Mapping[str, str]) -> AuthQuery:
    """The §2 parameters of a received call; ``AUTH_FAILED`` when one is missing or not of its form.

    Decision (zlb.md silent): ``requestTime`` must be plain decimal digits and ``sign`` 32 lower-case hex digits;
    anything else cannot be a sign the document describes, so it is refused as a wrong sign (code 14).
    """
    app_key = query.get(APP_KEY, "")
    text = query.get(REQUEST_TIME, "")
    sign = query.get(SIGN, "")
    if not app_key or len(app_key) > _MAX_APP_KEY:
        raise Refusal(C.AUTH_FAILED, APP_KEY, "appKey is missing")
    if not _DIGITS.fullmatch(text):
        raise Refusal(C.AUTH_FAILED, REQUEST_TIME, "requestTime is missing or not epoch milliseconds")
    if not _MD5_HEX.fullmatch(sign):
        raise Refusal(C.AUTH_FAILED, SIGN, "sign is missing or not 32 lower-case hex digits")
    return AuthQuery(app_key, int(text), text, sign)


def check_window(request_time: int, now_ms: int) -> None:
    """§2.3: ``REPLAYED`` when ``requestTime`` is more than 300 000 ms from the receiver's clock (exact, in ms)."""
    if abs(request_time - now_ms) > WINDOW_MS:
        raise Refusal(C.REPLAYED, REQUEST_TIME, "requestTime is outside the 300 000 ms window")


def replay_nonce(auth: AuthQuery, signature: bytes = b"") -> str:
    """What the receiver remembers of one call (README §10 step 1), scoped by appKey by the caller.

    Decision (zlb.md silent): ``requestTime`` + ``sign`` + the SM2 signature (canonical hex of its DER). The
    ``requestTime`` of a request has whole seconds (§6, ``adapters.zlb.codec.request_time``) and the sign depends on
    nothing else, so two honest calls within one second would share ``(requestTime, sign)``; the SM2 signature is
    randomised and covers the body (with its ``requestId``), so it tells them apart, while a replayed request
    carries the very same bytes. Only its signer can make a new one (the signature is checked first, and SM2 DER
    verification is strict). Token requests carry no body signature and are remembered by
    ``(requestTime, sign)`` alone.
    """
    nonce = f"{auth.request_time_text}:{auth.sign}"
    return f"{nonce}:{signature.hex()}" if signature else nonce


# --- SM2 body signature (§3) ------------------------------------------------------------------------------------------
def is_cert_sn(value: str) -> bool:
    """Whether ``value`` is written as §3 requires: a certificate serial in lower-case hex."""
    return bool(_CERT_SN.fullmatch(value))


def sm2_headers(private: Any, cert_sn: str, body: bytes) -> dict[str, str]:
    """§3: ``X-Sm2-Sign`` (Base64 DER SM2-with-SM3 over the exact body bytes) and ``X-Sm2-Cert-Sn``."""
    return {SIGN_HEADER: sm2_sign_b64(private, body), CERT_SN_HEADER: cert_sn}


def verify_sm2_headers(headers: Mapping[str, str], body: bytes, certs: Mapping[str, Any]) -> tuple[str, bytes]:
    """Verify §3 over ``body`` with the certificate the headers name, from the allow-list ``certs`` (serial → key).

    Returns ``(serial, DER signature)``. Raises ``SignatureInvalid`` (missing, not canonical Base64, not DER, does
    not verify) or ``UnknownKey`` (a serial not registered): both are code ``16`` at the edge. The message never
    chooses the algorithm: SM2-with-SM3 is the only one.
    """
    cert_sn = headers.get(CERT_SN_HEADER)
    value = headers.get(SIGN_HEADER)
    if not cert_sn or not value:
        raise SignatureInvalid("missing_signature", "X-Sm2-Sign or X-Sm2-Cert-Sn is missing")
    public = certs.get(cert_sn)
    if public is None:
        raise UnknownKey("unknown_cert_sn", "X-Sm2-Cert-Sn names no registered certificate")
    signature = b64decode_strict(value, "X-Sm2-Sign")
    sm2_verify(public, signature, body)
    return cert_sn, signature


# --- answers (§2.1, §4) -----------------------------------------------------------------------------------------------
def response_code(rejection: Refusal, *, secret_expired: bool = False) -> str:
    """The §4 code a refusal travels with: 14/15 for the IRS sign, 16 SM2, 17 size, else 10 + ``datas.errorCode``."""
    if rejection.code is C.AUTH_FAILED:
        return SECRET_EXPIRED if secret_expired else SIGN_WRONG
    return _RESPONSE_CODES.get(rejection.code, "10")


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """The §2.1 answer of a token request; end times are epoch ms of the issuer's clock."""

    request_secret: Secret
    refresh_secret: Secret
    request_secret_end: int
    refresh_secret_end: int


def token_datas(grant: TokenGrant) -> dict[str, Any]:
    """``datas`` of the §2.1 answer."""
    return {
        "requestSecret": grant.request_secret.reveal_str(),
        "refreshSecret": grant.refresh_secret.reveal_str(),
        "requestSecretEndTime": grant.request_secret_end,
        "refreshSecretEndTime": grant.refresh_secret_end,
    }


def read_token_datas(datas: Mapping[str, Any] | None) -> TokenGrant:
    """The grant in a §2.1 answer; ``MALFORMED`` naming the member that is missing or of the wrong type."""
    if datas is None:
        raise Refusal(C.MALFORMED, "datas", "the token answer has no datas")
    secrets = []
    for name in ("requestSecret", "refreshSecret"):
        value = datas.get(name)
        if type(value) is not str or not value:
            raise Refusal(C.MALFORMED, f"datas.{name}", "not a non-empty string")
        secrets.append(Secret(value))
    ends = []
    for name in ("requestSecretEndTime", "refreshSecretEndTime"):
        value = datas.get(name)
        if type(value) is not int:
            raise Refusal(C.MALFORMED, f"datas.{name}", "not epoch milliseconds")
        ends.append(value)
    return TokenGrant(secrets[0], secrets[1], ends[0], ends[1])


class SecretExpired(Refusal):
    """``AUTH_FAILED`` answered with code 15 (§2.3: the requestSecret expired; refresh and retry)."""


class SecretBook:
    """The requestSecrets a receiver issued, per appKey (§2), with their end times (epoch ms of its clock).

    Decision (zlb.md silent): a renewal does not end the earlier secrets, which stay valid until their own end so
    that calls in flight still pass; a sign under an expired secret, or any sign while no secret of the appKey is
    live, is code 15 (refresh), any other mismatch code 14. The last ``keep`` secrets per appKey are remembered.
    """

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._issued: dict[str, list[tuple[Secret, int]]] = {}

    def add(self, app_key: str, secret: Secret, end_ms: int) -> None:
        issued = self._issued.setdefault(app_key, [])
        issued.append((secret, end_ms))
        del issued[: -self._keep]

    def check(self, auth: AuthQuery, now_ms: int) -> None:
        """``AUTH_FAILED`` (14) or ``SecretExpired`` (15) unless ``auth.sign`` is under a live secret."""
        issued = self._issued.get(auth.app_key, [])
        for secret, end in reversed(issued):
            if verify_irs_sign(auth.app_key, secret, auth.request_time_text, auth.sign):
                if now_ms < end:
                    return
                raise SecretExpired(C.AUTH_FAILED, SIGN, "the requestSecret has expired")
        if not any(now_ms < end for _, end in issued):
            raise SecretExpired(C.AUTH_FAILED, SIGN, "no live requestSecret: refresh it")
        raise Refusal(C.AUTH_FAILED, SIGN, "sign does not match")


def peek_request_id(body: bytes) -> str:
    """``head.requestId`` to echo in the answer (§4), read leniently: a body that is not the documented envelope
    is refused later at its own step (README §10), and its answer echoes nothing."""
    try:
        head = parse_json(body).get("head")
    except Refusal:
        return ""
    value = head.get("requestId") if isinstance(head, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else ""


def verify_licence_sign(licence: Licence, sign: object, issuers: Mapping[str, Any]) -> LicenceSignature:
    """``datas.digitalSign`` (zlb.md §6.4, anhui.md §6.6) over the licence signing string of ``licence``, by
    ``signCertSN`` from the ``issuers`` allow-list (``adapters.licence_sign``); ``SIGNATURE_INVALID`` otherwise."""
    signature = None
    if isinstance(sign, dict) and all(isinstance(sign.get(k), str) for k in ("value", "signCertSN", "alg", "userId")):
        signature = LicenceSignature(sign["value"], sign["signCertSN"], sign["alg"], sign["userId"])
    return verify_issuer_signature(licence, signature, issuers, "datas.digitalSign")


def licence_sign_datas(signature: LicenceSignature) -> dict[str, str]:
    """``datas.digitalSign`` as the issuing side writes it."""
    sig = signature
    return {"alg": sig.alg, "userId": sig.user_id, "signCertSN": sig.cert_sn, "value": sig.value}


def describe_evidence(evidence: Mapping[str, str]) -> tuple[str, str]:
    """The scheme and key id of a logged zlb message: SM2 with SM3, named by the signing certificate's serial."""
    if "x-sm2-sign" in evidence:
        return "SM2 with SM3", evidence.get("x-sm2-cert-sn", "-")
    return "-", "-"
