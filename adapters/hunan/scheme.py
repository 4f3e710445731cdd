"""The hunan wire scheme as pure functions (hunan.md §2-§4): bytes, keys and ``now`` in, headers and verdicts out.

Two layers ride on every exchange with Changsha, in both roles:

- client authentication, OAuth 2.0 client credentials with ``private_key_jwt`` (§2, RFC 7523): an ES256 client
  assertion posted form-encoded to ``/oauth2/token`` buys a bearer token for 600 s;
- the message signature (§3, RFC 9421 + RFC 9530): every request and every response carries ``Content-Digest``
  (when it has a body), ``Signature-Input`` and ``Signature`` under label ``sig1``, Ed25519, over a fixed component
  list per kind of message.

Nothing here opens a socket, reads the clock, draws a nonce or holds state: the scheme module
(``adapters.hunan.roles``) passes ``now``/``nonce`` in, keeps tokens and nonces, and talks HTTP. Failures are
``signing.errors`` types (mapped to README §10 codes at the HTTP edge) or ``Refusal`` for unreadable bodies.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from signing.errors import SignatureInvalid, TokenInvalid
from signing.httpsig import HttpMessage, SignatureResult, content_digest, sign_message, verify_message
from signing.jwt import issue_jwt, verify_jwt
from signing.keys import ALG_ES256, SigningKey, VerificationKey

from ..jsonwire import dump_json, parse_json

__all__ = [
    "ASSERTION_MAX_LIFETIME",
    "ASSERTION_TYPE",
    "CASES_PATH",
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "LABEL",
    "NONCE_TTL",
    "REQUEST_COMPONENTS",
    "REQUEST_COMPONENTS_NO_BODY",
    "RESPONSE_COMPONENTS",
    "SCOPES",
    "TOKEN_LIFETIME",
    "TOKEN_PATH",
    "WINDOW",
    "ClientAssertion",
    "TokenAnswer",
    "TokenRequest",
    "assertion_claims",
    "bearer_token",
    "case_no_hint",
    "case_path",
    "make_client_assertion",
    "parse_token_answer",
    "read_token_request",
    "render_not_found",
    "render_token_answer",
    "sign_request",
    "sign_response",
    "status_path",
    "target_uri",
    "token_request_body",
    "verify_client_assertion",
    "verify_request",
    "verify_response",
]

# §1 paths, relative to the base URL
TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path, not a password)
CASES_PATH = "/api/v2/cases"

# §2
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPES = ("kstb.case", "kstb.status")
ASSERTION_MAX_LIFETIME = 300  # exp ≤ iat + 300
TOKEN_LIFETIME = 600  # expires_in of the token answer
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

# §3: exact component lists per kind of message, in order, under one label
LABEL = "sig1"
REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest", "content-type")
REQUEST_COMPONENTS_NO_BODY = ("@method", "@target-uri")
RESPONSE_COMPONENTS = ("@status", "content-digest", "content-type")
WINDOW = 300  # |created - now| ≤ 300 s
NONCE_TTL = 600  # a nonce is remembered 600 s

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_FORM = 16384
_CASE_NO = re.compile(r"[0-9A-Za-z_-]{6,32}")


def case_path(case_no: str) -> str:
    """``/api/v2/cases/{case_no}`` (§1); the case number's characters need no escaping (§6.1 pattern)."""
    return f"{CASES_PATH}/{quote(case_no, safe='')}"


def status_path(case_no: str) -> str:
    """``/api/v2/cases/{case_no}/status-events`` (§1)."""
    return f"{case_path(case_no)}/status-events"


def target_uri(url: str) -> str:
    """The ``@target-uri`` form of ``url`` both sides agree on: scheme and host lower-case, default port dropped,
    path and query as written, no fragment. The client signs and sends this URL; the server rebuilds it from
    its request line and ``Host`` header and normalises it the same way."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise SignatureInvalid("malformed_component", "target URI has an invalid port") from exc
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


# --- §2 client assertion and token ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The form of ``POST /oauth2/token`` once read; ``scope`` is the requested scopes (empty: all of §2)."""

    assertion: str
    scope: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientAssertion:
    """A verified client assertion: who, and the ``jti``/``iat`` to replay-check."""

    client_id: str
    jti: str
    iat: float

    def __repr__(self) -> str:
        return f"ClientAssertion({self.client_id})"


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """The §2 token answer; ``repr`` never shows the token."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]

    def __repr__(self) -> str:
        return f"TokenAnswer(expires_in={self.expires_in}, scope={self.scope!r})"


def assertion_claims(client_id: str, audience: str, jti: str, now: float) -> dict[str, Any]:
    """§2 claims in the document's order: ``iss`` = ``sub`` = client id, ``aud`` the token URL, ``jti``, ``iat``,
    ``exp`` = ``iat`` + 300 (the longest the platform accepts)."""
    iat = int(now)
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti,
        "iat": iat,
        "exp": iat + ASSERTION_MAX_LIFETIME,
    }


def make_client_assertion(key: SigningKey, client_id: str, audience: str, jti: str, now: float) -> str:
    """The ES256 client assertion, header ``{"alg":"ES256","kid":…,"typ":"JWT"}`` (§2)."""
    if key.alg != ALG_ES256:
        raise SignatureInvalid("alg_not_allowed", "the hunan client assertion is ES256 only")
    return issue_jwt(assertion_claims(client_id, audience, jti, now), key, typ="JWT")


def token_request_body(assertion: str, scope: Collection[str] = SCOPES) -> bytes:
    """The form of §2, percent-encoded as the document prints it (``%3A``, ``%20``)."""
    form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("scope", " ".join(scope)),
    ]
    return urlencode(form, quote_via=quote).encode("ascii")


def read_token_request(body: bytes) -> TokenRequest:
    """Read the §2 form; anything else (duplicate or missing member, other grant, unknown scope) is
    ``AUTH_FAILED``: the client has not authenticated."""
    try:
        if len(body) > _MAX_FORM:
            raise ValueError("form too long")
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(C.AUTH_FAILED, None, "the token request is not the documented form") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise Refusal(C.AUTH_FAILED, None, "a token request member occurs twice")
    if form.get("grant_type") != "client_credentials":
        raise Refusal(C.AUTH_FAILED, "grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise Refusal(C.AUTH_FAILED, "client_assertion_type", "client_assertion_type must be jwt-bearer")
    assertion = form.get("client_assertion", "")
    if not assertion:
        raise Refusal(C.AUTH_FAILED, "client_assertion", "client_assertion is missing")
    scope = tuple(form.get("scope", "").split())
    if any(s not in SCOPES for s in scope):
        raise Refusal(C.AUTH_FAILED, "scope", "a requested scope is not offered")
    return TokenRequest(assertion, scope or SCOPES)


def verify_client_assertion(
    assertion: str, keys: Mapping[str, VerificationKey], client_id: str, audience: str, now: float
) -> ClientAssertion:
    """§2: ES256 only, ``typ`` JWT, registered ``kid``, ``aud`` = ``audience``, ``iss`` = ``sub`` = ``client_id``,
    ``jti`` present, ``iat``/``exp`` present with ``exp`` ≤ ``iat`` + 300 and not past. The ``jti`` replay check
    is the caller's (it holds the store). Raises ``signing.errors`` types."""
    claims = verify_jwt(
        assertion,
        keys,
        (ALG_ES256,),
        now=now,
        audience=audience,
        issuer=client_id,
        required_claims=("iss", "sub", "aud", "jti", "iat", "exp"),
        typ="JWT",
        max_lifetime=ASSERTION_MAX_LIFETIME,
    )
    if claims.get("sub") != client_id:
        raise TokenInvalid("wrong_subject", "sub must equal iss (the client id)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise TokenInvalid("bad_claim", "jti must be a non-empty string")
    return ClientAssertion(client_id, jti, float(claims["iat"]))


def render_token_answer(answer: TokenAnswer) -> bytes:
    """``{"access_token","token_type":"Bearer","expires_in","scope"}`` (§2)."""
    return dump_json(
        {
            "access_token": answer.access_token,
            "token_type": "Bearer",
            "expires_in": answer.expires_in,
            "scope": " ".join(answer.scope),
        }
    )


def parse_token_answer(body: bytes) -> TokenAnswer:
    """A §2 token answer; any other shape is ``MALFORMED`` at the member."""
    tree = parse_json(body)
    token = tree.get("access_token")
    if type(token) is not str or not token or not token.isascii() or not token.isprintable():
        raise Refusal(C.MALFORMED, "access_token", "the token answer carries no usable access_token")
    if type(tree.get("token_type")) is not str or tree["token_type"].lower() != "bearer":
        raise Refusal(C.MALFORMED, "token_type", "token_type must be Bearer")
    expires = tree.get("expires_in")
    if type(expires) is not int or expires <= 0:
        raise Refusal(C.MALFORMED, "expires_in", "expires_in must be a positive integer")
    scope = tree.get("scope", "")
    if type(scope) is not str:
        raise Refusal(C.MALFORMED, "scope", "scope must be a string")
    return TokenAnswer(token, expires, tuple(scope.split()))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def case_no_hint(body: bytes) -> str | None:
    """The body's top-level ``case_no`` when it is one (§6.1 pattern), for the ``case_no`` member of a problem
    document (§4); ``None`` when the body is not a JSON object or the member is not a case number."""
    try:
        value = parse_json(body).get("case_no")
    except Refusal:
        return None
    if type(value) is not str or not _CASE_NO.fullmatch(value):
        return None
    return value


def render_not_found() -> bytes:
    """The 404 answer of ``GET /api/v2/cases/{case_no}`` for an unknown case: an RFC 9457 document. Not found is no
    rejection of README §10, but like every refusal of the gateway it carries a stable ``code``, ``NOT_FOUND`` (the
    code the gateway's own problem documents give a 404; issue 11 item 10)."""
    return dump_json({"type": "about:blank", "title": "Not Found", "status": 404, "code": "NOT_FOUND"})


# --- §3 message signatures --------------------------------------------------------------------------------------------
def sign_request(
    method: str, url: str, body: bytes | None, content_type: str | None, key: SigningKey, *, created: int, nonce: str
) -> dict[str, str]:
    """The signature headers of a request: with a body (``POST``) ``Content-Digest`` plus ``sig1`` over
    ``@method @target-uri content-digest content-type``; without (``GET``) ``sig1`` over ``@method @target-uri``
    and no ``Content-Digest``. ``url`` must already be in :func:`target_uri` form."""
    headers: dict[str, str] = {}
    components: tuple[str, ...] = REQUEST_COMPONENTS_NO_BODY
    if body is not None:
        if not content_type:
            raise SignatureInvalid("missing_component", "a request with a body needs a Content-Type")
        headers = {"Content-Digest": content_digest(body), "Content-Type": content_type}
        components = REQUEST_COMPONENTS
    message = HttpMessage(headers, method=method.upper(), target_uri=url)
    headers.update(sign_message(message, components, key, created=created, nonce=nonce, label=LABEL))
    return headers


def verify_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, keys: Mapping[str, VerificationKey]
) -> SignatureResult:
    """Verify a request's ``sig1`` over exactly the §3 list for its kind (``body`` ``None``: a ``GET``). The caller
    applies the window and nonce check to the result (``created``, ``nonce``)."""
    components = REQUEST_COMPONENTS_NO_BODY if body is None else REQUEST_COMPONENTS
    message = HttpMessage(headers, method=method.upper(), target_uri=url)
    return verify_message(message, components, keys, body=body, label=LABEL)


def sign_response(
    status: int, body: bytes, content_type: str, key: SigningKey, *, created: int, nonce: str
) -> dict[str, str]:
    """``Content-Type``, ``Content-Digest`` and ``sig1`` over ``@status content-digest content-type`` (§3)."""
    headers = {"Content-Type": content_type, "Content-Digest": content_digest(body)}
    message = HttpMessage(headers, status=status)
    headers.update(sign_message(message, RESPONSE_COMPONENTS, key, created=created, nonce=nonce, label=LABEL))
    return headers


def verify_response(
    status: int, headers: Mapping[str, str], body: bytes, keys: Mapping[str, VerificationKey]
) -> SignatureResult:
    """Verify a response's ``sig1`` over exactly ``@status content-digest content-type`` and its digest."""
    return verify_message(HttpMessage(headers, status=status), RESPONSE_COMPONENTS, keys, body=body, label=LABEL)


_EVIDENCE_KEYID: Final = re.compile(r'keyid="([^"]{1,200})"')
_EVIDENCE_ALG: Final = re.compile(r'alg="([^"]{1,50})"')


def describe_evidence(evidence: Mapping[str, str]) -> tuple[str, str]:
    """The scheme and key id of a logged hunan message: HTTP Message Signatures, their ``alg`` and ``keyid``."""
    params = evidence.get("signature-input")
    if params is None:
        return "-", "-"
    alg, keyid = _EVIDENCE_ALG.search(params), _EVIDENCE_KEYID.search(params)
    return f"HTTP Message Signatures {alg.group(1) if alg else ''}".strip(), keyid.group(1) if keyid else "-"
