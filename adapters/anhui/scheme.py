"""The anhui wire scheme as pure functions (anhui.md §2-§5, §6.5, §6.6): no I/O, no clock, no randomness.

Both roles compose from these: the client signs a request from ``(body, credentials, now, nonce)`` and reads a
signed answer; the server reads the TIF headers and the detached JWS of a request and renders a signed answer.
The caller supplies the time and the nonce, so every function here is bytes/strings in, values out.

Scheme (the document's words, tagged where they sit below):

- TIF client authentication (§2): ``x-tif-paasid``, ``x-tif-timestamp`` (Unix seconds, decimal), ``x-tif-nonce``
  (16-64 of ``[0-9a-z-]``), ``x-tif-signature`` = lower-case hex SHA-256 of ``ts + paasToken + nonce + ts``.
  Wrong signature or unknown paas id: ``AUTH_FAILED``. The window (300 s) and the nonce memory (600 s) are the
  replay guard's business, checked after the message signature (README §10 step 1).
- Detached JWS ``x-ah-jws`` (§3) over the exact body bytes, on every request and every response; verified against
  an allow-list (ES256 only, registered kids only): anything else is ``SIGNATURE_INVALID``.
- Answers ``{"code","msg","data"}`` (§4): success 200/"200"; business refusals 200/"400" with
  ``data.errorCode``/``data.field``; authentication 401/"401"; body too large 413/"413"; faults 5xx/"500".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature
from signing.digests import constant_time_equal_hex, sha256_hex
from signing.errors import SigningError
from signing.jws import sign_detached, verify_detached
from signing.keys import ALG_ES256, SigningKey, VerificationKey
from signing.secret import Secret

from ..jsonwire import dump_json, parse_json

__all__ = [
    "CATALOGUE_PATH",
    "H_JWS",
    "H_NONCE",
    "H_PAASID",
    "H_SIGNATURE",
    "H_TIMESTAMP",
    "JWS_ALGS",
    "PATHS",
    "Answer",
    "TifCredentials",
    "answer_status",
    "catalogue_query",
    "digital_sign_json",
    "licence_answer_body",
    "make_nonce",
    "page_body",
    "read_answer",
    "read_catalogue_query",
    "read_digital_sign",
    "read_page_numbers",
    "read_tif",
    "render_answer",
    "render_refusal",
    "sign_body",
    "tif_headers",
    "tif_signature",
    "verify_body",
]

H_PAASID = "x-tif-paasid"
H_TIMESTAMP = "x-tif-timestamp"
H_NONCE = "x-tif-nonce"
H_SIGNATURE = "x-tif-signature"
H_JWS = "x-ah-jws"
JWS_ALGS = frozenset({ALG_ES256})  # §3: ES256 only

#: §1: operation → path under ``{base}``; the catalogue is a GET
PATHS: dict[str, str] = {
    "case": "/kstb/v1/case/submit",
    "status": "/kstb/v1/case/status",
    "evaluation": "/kstb/v1/evaluation/push",
    "licence_query": "/kstb/v1/licence/query",
}
CATALOGUE_PATH = "/catalog/items"

_NONCE = re.compile(r"[0-9a-z-]{16,64}")  # §2
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # decimal Unix seconds; 12 digits is far beyond any window
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SINCE = "%Y-%m-%d %H:%M:%S"  # §6.5 updatedSince, Beijing time without offset
PAGE_SIZE_MAX = 1000  # §5


# --- TIF (§2) ----------------------------------------------------------------------------------------------------
def tif_signature(timestamp: str, token: Secret, nonce: str) -> str:
    """§2: lower-case hex SHA-256 of ``timestamp + paasToken + nonce + timestamp`` (UTF-8, no separators)."""
    return sha256_hex(timestamp + token.reveal_str() + nonce + timestamp)


def make_nonce(now_ms: int, random_bits: int) -> str:
    """§2's recommended shape ``hex(ms)-hex(random)``; the caller draws ``random_bits`` (>= 24 bits)."""
    return f"{now_ms:x}-{random_bits:06x}"


def tif_headers(paas_id: str, token: Secret, now: float, nonce: str) -> dict[str, str]:
    """The four TIF headers for a request sent at ``now`` (Unix seconds) with ``nonce``."""
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a TIF nonce is 16-64 characters of [0-9a-z-]")
    ts = str(int(now))
    return {H_PAASID: paas_id, H_TIMESTAMP: ts, H_NONCE: nonce, H_SIGNATURE: tif_signature(ts, token, nonce)}


@dataclass(frozen=True, slots=True)
class TifCredentials:
    """What a verified TIF header set says: who called, when and with which nonce (for the replay guard)."""

    paas_id: str
    timestamp: int
    nonce: str


def _auth_failed(where: str, detail: str) -> Refusal:
    return Refusal(C.AUTH_FAILED, where, detail)


def read_tif(headers: Mapping[str, str], tokens: Mapping[str, Secret]) -> TifCredentials:
    """Verify the TIF headers (lower-case names) against the known paas ids; ``AUTH_FAILED`` otherwise.

    A missing or malformed header is an authentication failure too: without it the caller is unknown.
    """
    paas_id = headers.get(H_PAASID)
    ts = headers.get(H_TIMESTAMP)
    nonce = headers.get(H_NONCE)
    given = headers.get(H_SIGNATURE)
    if not paas_id or ts is None or nonce is None or given is None:
        raise _auth_failed(H_PAASID if not paas_id else H_SIGNATURE, "TIF headers missing")
    token = tokens.get(paas_id)
    if token is None:
        raise _auth_failed(H_PAASID, "unknown paas id")
    if not _TIMESTAMP.fullmatch(ts):
        raise _auth_failed(H_TIMESTAMP, "timestamp is not decimal Unix seconds")
    if not _NONCE.fullmatch(nonce):
        raise _auth_failed(H_NONCE, "nonce is not 16-64 characters of [0-9a-z-]")
    if not _HEX64.fullmatch(given):
        raise _auth_failed(H_SIGNATURE, "signature is not lower-case hex SHA-256")
    try:
        constant_time_equal_hex(tif_signature(ts, token, nonce), given)
    except SigningError as exc:
        raise _auth_failed(H_SIGNATURE, "TIF signature does not match") from exc
    return TifCredentials(paas_id, int(ts), nonce)


# --- detached JWS (§3) -------------------------------------------------------------------------------------------
def sign_body(body: bytes, key: SigningKey) -> str:
    """The ``x-ah-jws`` value over the exact ``body`` bytes."""
    return sign_detached(body, key)


def verify_body(
    value: str | None,
    body: bytes,
    keys: Mapping[str, VerificationKey],
    algs: Collection[str] = JWS_ALGS,
) -> str:
    """Verify ``x-ah-jws`` over ``body``; the kid that verified, or ``SIGNATURE_INVALID`` (missing included)."""
    if not value:
        raise Refusal(C.SIGNATURE_INVALID, H_JWS, "no message signature")
    try:
        return verify_detached(value, body, keys, algs)
    except SigningError as exc:
        raise Refusal(C.SIGNATURE_INVALID, H_JWS, exc.reason) from exc


# --- answers (§4) ------------------------------------------------------------------------------------------------
_MSG: dict[str, str] = {
    "200": "成功",
    "401": "鉴权失败",
    "413": "请求体过大",
    "500": "平台内部错误，请稍后重试",
}
_REFUSAL_MSG: dict[C, str] = {
    C.AUTH_FAILED: "鉴权失败",
    C.SIGNATURE_INVALID: "报文签名无效",
    C.REPLAYED: "请求已过期或重复",
    C.BODY_TOO_LARGE: "请求体过大",
    C.CONSENT_INVALID: "持证人授权无效",
}
#: README §10 transport codes and their HTTP status (§2: 401; §4: 413); every other refusal is 200 + "400"
_TRANSPORT_STATUS: dict[C, int] = {
    C.AUTH_FAILED: 401,
    C.SIGNATURE_INVALID: 401,
    C.REPLAYED: 401,
    C.BODY_TOO_LARGE: 413,
}


def render_answer(data: Any, *, code: str = "200", msg: str | None = None) -> bytes:
    """``{"code","msg","data"}`` as UTF-8 JSON bytes (the bytes that are then signed)."""
    return dump_json({"code": code, "msg": msg if msg is not None else _MSG.get(code, ""), "data": data})


def answer_status(code: C | str) -> int:
    """The HTTP status a refusal with rejection ``code`` travels with (§2, §4)."""
    return _TRANSPORT_STATUS.get(C(code), 200)


def render_refusal(rejection: Refusal) -> tuple[int, bytes]:
    """(HTTP status, body) for a refusal. The message names the code only, never the refused value."""
    status = answer_status(rejection.code)
    code = "400" if status == 200 else str(status)
    data: dict[str, str] = {"errorCode": rejection.code.value}
    if rejection.where and status == 200:
        data["field"] = rejection.where
    msg = _REFUSAL_MSG.get(rejection.code, "数据校验不通过")
    return status, render_answer(data, code=code, msg=msg)


@dataclass(frozen=True, slots=True)
class Answer:
    """A read answer: ``ok`` with ``data``, or a refusal/fault with ``error_code`` and ``field``."""

    status: int
    code: str
    msg: str
    data: Any
    error_code: str | None = None
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.code == "200"


def read_answer(status: int, body: bytes) -> Answer:
    """Parse an answer body; ``Refusal(MALFORMED)`` when it is not the §4 envelope."""
    tree = parse_json(body)
    code = tree.get("code")
    msg = tree.get("msg")
    if not isinstance(code, str):
        raise Refusal(C.MALFORMED, "code", "the answer has no code")
    data = tree.get("data")
    error_code = field = None
    if isinstance(data, dict):
        raw_code, raw_field = data.get("errorCode"), data.get("field")
        error_code = raw_code if isinstance(raw_code, str) and raw_code else None
        field = raw_field if isinstance(raw_field, str) and raw_field else None
    return Answer(status, code, msg if isinstance(msg, str) else "", data, error_code, field)


# --- catalogue paging (§1, §5, §6.5) -----------------------------------------------------------------------------
def catalogue_query(page_no: int, page_size: int, since: datetime | None) -> str:
    """The query string of ``GET /catalog/items`` (``updatedSince`` in Beijing time, §6.5)."""
    params: dict[str, str] = {"pageNo": str(page_no), "pageSize": str(page_size)}
    if since is not None:
        params["updatedSince"] = since.strftime(_SINCE)
    return urlencode(params)


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    # the length first: int() of thousands of digits raises (Python's digit limit) instead of answering
    if len(raw) > len(str(high)) or not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise Refusal(C.BAD_FORMAT, name, f"{name} must be an integer from {low} to {high}")
    return int(raw)


def read_catalogue_query(query: Mapping[str, str]) -> tuple[int, int, datetime | None]:
    """(pageNo, pageSize, updatedSince as a naive Beijing time) from the query; ``BAD_FORMAT`` naming the key.

    Defaults when absent: page 1, 1000 per page, no ``updatedSince`` (the document always sends all three).
    """
    page_no = _int_param(query, "pageNo", 1, 1, 10**9)
    page_size = _int_param(query, "pageSize", PAGE_SIZE_MAX, 1, PAGE_SIZE_MAX)
    raw = query.get("updatedSince")
    since = None
    if raw:
        try:
            since = datetime.strptime(raw, _SINCE)
        except ValueError:
            raise Refusal(C.BAD_FORMAT, "updatedSince", "updatedSince is not yyyy-MM-dd HH:mm:ss") from None
        if len(raw) != 19:  # strptime accepts single-digit fields; the document does not
            raise Refusal(C.BAD_FORMAT, "updatedSince", "updatedSince is not yyyy-MM-dd HH:mm:ss")
    return page_no, page_size, since


# --- licence signature beside the licence (§6.6) -----------------------------------------------------------------
def digital_sign_json(signature: LicenceSignature) -> dict[str, str]:
    """``data.digitalSign`` as §6.6 prints it."""
    return {
        "alg": signature.alg,
        "userId": signature.user_id,
        "signCertSN": signature.cert_sn,
        "value": signature.value,
    }


def read_digital_sign(data: Any) -> LicenceSignature:
    """``data.digitalSign`` of a licence answer; ``SIGNATURE_INVALID`` when absent or not the §6.6 form."""
    sign = data.get("digitalSign") if isinstance(data, dict) else None
    where = "data.digitalSign"
    if not isinstance(sign, dict):
        raise Refusal(C.SIGNATURE_INVALID, where, "the licence carries no issuer signature")
    values = {k: sign.get(k) for k in ("alg", "userId", "signCertSN", "value")}
    if not all(isinstance(v, str) and v for v in values.values()):
        raise Refusal(C.SIGNATURE_INVALID, where, "the issuer signature is incomplete")
    if values["alg"] != "SM2-SM3" or values["userId"] != "1234567812345678":
        raise Refusal(C.SIGNATURE_INVALID, where, "the issuer signature uses another algorithm or user id")
    return LicenceSignature(value=values["value"], cert_sn=values["signCertSN"])  # type: ignore[arg-type]


def licence_answer_body(licence_tree: dict[str, Any], signature: LicenceSignature | None) -> bytes:
    """The licence query answer: the licence's fields in ``data`` with ``digitalSign`` beside them (§6.4, §6.6)."""
    data = dict(licence_tree)
    if signature is not None:
        data["digitalSign"] = digital_sign_json(signature)
    return render_answer(data)


def page_body(page_no: int, page_size: int, total: int, item_trees: list[Any]) -> bytes:
    """A catalogue page answer (§6.5)."""
    return render_answer({"pageNo": page_no, "pageSize": page_size, "total": total, "list": item_trees})


def read_page_numbers(body: bytes) -> tuple[int, int, int]:
    """``pageNo``, ``pageSize``, ``total`` of a catalogue page answer (envelope fields, README §9)."""
    data = parse_json(body).get("data")
    numbers = [data.get(k) if isinstance(data, dict) else None for k in ("pageNo", "pageSize", "total")]
    if not all(type(n) is int and n >= 0 for n in numbers):
        raise Refusal(C.MALFORMED, "data", "the catalogue page has no pageNo, pageSize and total")
    return numbers[0], numbers[1], numbers[2]  # type: ignore[return-value]


def describe_evidence(evidence: Mapping[str, str]) -> tuple[str, str]:
    """The scheme and key id of a logged anhui message: the detached JWS's ``alg`` and ``kid`` (its protected header,
    decoded only to be shown: the signature was verified before the entry was written), else the TIF HMAC's paas id."""
    if "x-ah-jws" in evidence:
        head = evidence["x-ah-jws"].split(".", 1)[0]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        except (ValueError, UnicodeDecodeError):
            decoded = {}
        header = {str(k): str(v) for k, v in decoded.items()} if isinstance(decoded, dict) else {}
        return f"JWS {header.get('alg', '?')}", header.get("kid", "-")
    if "x-tif-signature" in evidence:
        return "HMAC-SHA256 (x-tif)", evidence.get("x-tif-paasid", "-")
    return "-", "-"
