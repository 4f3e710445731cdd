"""RFC 9421 signatures and RFC 9530 Content-Digest: round trips for each message kind and every refusal."""

from __future__ import annotations

import base64

import pytest

from signing.devpki import generate_ed25519, generate_p256
from signing.errors import DigestMismatch, SignatureInvalid, UnknownKey
from signing.httpsig import (
    HttpMessage,
    content_digest,
    sign_message,
    signature_base,
    verify_content_digest,
    verify_message,
)
from signing.keys import SigningKey, VerificationKey

BODY = b'{"case_no":"4301002506000000001","status":"accepted"}'
URI = "https://partner.example/api/v2/cases/4301002506000000001/status-events"
REQ = ("@method", "@target-uri", "content-digest", "content-type")
GET = ("@method", "@target-uri")
RESP = ("@status", "content-digest", "content-type")


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.of("gw-ed-1", generate_ed25519())


@pytest.fixture(scope="module")
def keys(key: SigningKey) -> dict[str, VerificationKey]:
    return {key.kid: key.verification_key()}


def _request(key: SigningKey, components: tuple[str, ...] = REQ, body: bytes = BODY, **headers: str) -> HttpMessage:
    base = {"Content-Digest": content_digest(body), "Content-Type": "application/json"}
    msg = HttpMessage(base, "POST", URI)
    signed = sign_message(msg, components, key, created=1_748_395_200, nonce="n-1")
    return HttpMessage({**base, **signed, **headers}, "POST", URI)


def test_request_response_and_get_round_trip(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    assert verify_message(_request(key), REQ, keys, body=BODY).nonce == "n-1"

    resp_headers = {"content-digest": content_digest(BODY), "content-type": "application/problem+json"}
    resp = HttpMessage(resp_headers, status=409)
    signed = sign_message(resp, RESP, key, created=1_748_395_201, nonce="n-2")
    assert signed["Signature-Input"].startswith('sig1=("@status" "content-digest" "content-type");created=')
    result = verify_message(HttpMessage({**resp_headers, **signed}, status=409), RESP, keys, body=BODY)
    assert (result.keyid, result.created, result.nonce) == ("gw-ed-1", 1_748_395_201, "n-2")

    get = HttpMessage({}, "GET", URI)
    signed = sign_message(get, GET, key, created=1_748_395_202, nonce="n-3")
    assert verify_message(HttpMessage(signed, "GET", URI), GET, keys).created == 1_748_395_202


def test_different_component_order_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    reordered = ("@target-uri", "@method", "content-digest", "content-type")
    with pytest.raises(SignatureInvalid) as err:
        verify_message(_request(key, reordered), REQ, keys, body=BODY)
    assert err.value.reason == "components_not_allowed"
    with pytest.raises(SignatureInvalid):
        verify_message(_request(key, GET), REQ, keys, body=BODY)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ('created=1748395200;keyid="gw-ed-1";alg="ed25519"', "params_not_allowed"),
        ('created=1748395200;nonce="n";keyid="gw-ed-1"', "params_not_allowed"),
        ('created=1748395200;nonce="n";keyid="gw-ed-1";alg="ed25519";expires=1', "params_not_allowed"),
        ('created=1748395200;nonce="n";keyid="gw-ed-1";alg="rsa-pss-sha512"', "alg_not_allowed"),
        ('created="1748395200";nonce="n";keyid="gw-ed-1";alg="ed25519"', "params_not_allowed"),
    ],
)
def test_parameter_refusals(key: SigningKey, keys: dict[str, VerificationKey], params: str, reason: str) -> None:
    """The signature is computed over the hostile Signature-Input, so only the parameter rules can refuse it."""
    sig_input = '("@method" "@target-uri" "content-digest" "content-type");' + params
    headers = {"Content-Digest": content_digest(BODY), "Content-Type": "application/json"}
    msg = HttpMessage(headers, "POST", URI)
    sig = key.private.sign(signature_base(msg, REQ, sig_input))
    signed = {"Signature-Input": f"sig1={sig_input}", "Signature": f"sig1=:{base64.b64encode(sig).decode()}:"}
    with pytest.raises(SignatureInvalid) as err:
        verify_message(HttpMessage({**headers, **signed}, "POST", URI), REQ, keys, body=BODY)
    assert err.value.reason == reason


def test_wrong_content_digest_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    with pytest.raises(DigestMismatch):
        verify_message(_request(key), REQ, keys, body=BODY + b" ")
    forged = _request(key, **{"Content-Digest": content_digest(b"other")})
    with pytest.raises(SignatureInvalid):
        verify_message(forged, REQ, keys, body=b"other")
    with pytest.raises(SignatureInvalid):
        verify_message(_request(key), REQ, keys)  # content-digest covered, body not given


def test_content_digest_forms() -> None:
    verify_content_digest(content_digest(BODY), BODY)
    verify_content_digest("sha-512=:AAAA:, " + content_digest(BODY), BODY)
    for bad in (None, "", "sha-512=:AAAA:", "sha-256=abc", "sha-256=:not base64!:", "sha-256=:AAAA:;x=1"):
        with pytest.raises(SignatureInvalid):
            verify_content_digest(bad, BODY)
    with pytest.raises(DigestMismatch):
        verify_content_digest(content_digest(b"x"), BODY)


def test_tampered_signed_parts_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    msg = _request(key)
    for changed in (
        HttpMessage(msg.headers, "PUT", URI),
        HttpMessage(msg.headers, "POST", URI + "?x=1"),
        HttpMessage({**msg.headers, "Content-Type": "text/plain"}, "POST", URI),
    ):
        with pytest.raises(SignatureInvalid) as err:
            verify_message(changed, REQ, keys, body=BODY)
        assert err.value.reason == "bad_signature"


def test_unknown_and_wrong_keys(key: SigningKey) -> None:
    with pytest.raises(UnknownKey):
        verify_message(_request(key), REQ, {}, body=BODY)
    impostor = {key.kid: VerificationKey.of(key.kid, generate_ed25519().public_key())}
    with pytest.raises(SignatureInvalid):
        verify_message(_request(key), REQ, impostor, body=BODY)
    es = {key.kid: VerificationKey.of(key.kid, generate_p256().public_key())}
    with pytest.raises(SignatureInvalid) as err:
        verify_message(_request(key), REQ, es, body=BODY)
    assert err.value.reason == "alg_key_mismatch"
    with pytest.raises(SignatureInvalid):
        sign_message(HttpMessage({}, "GET", URI), GET, SigningKey.of("es", generate_p256()), created=1, nonce="n")


@pytest.mark.parametrize(
    ("sig_input", "signature"),
    [
        (None, "sig1=:AAAA:"),
        ('sig1=("@method")', None),
        ("garbage", "sig1=:AAAA:"),
        ('sig2=("@method" "@target-uri");created=1;nonce="n";keyid="gw-ed-1";alg="ed25519"', "sig2=:AAAA:"),
        ('sig1=("@method" "@target-uri";created=1', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1;nonce="n;keyid="k";alg="ed25519"', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1, sig1=("@method")', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1;nonce="n";keyid="gw-ed-1";alg="ed25519"', "sig1=AAAA"),
        ('sig1=("@method" "@target-uri");created=1;nonce="n";keyid="gw-ed-1";alg="ed25519"', "sig1=:A A:"),
        ('sig1=("@method" "@target-uri");created=1;nonce="n";keyid="gw-ed-1";alg="ed25519"', "sig1=:AAAA:"),
        ('sig1=("@method" "@target-uri");created=1;nonce="n";keyid="gw-ed-1";alg="ed25519"' + "x" * 9000, "x"),
    ],
)
def test_garbage_signature_headers(keys: dict[str, VerificationKey], sig_input: str | None,
                                   signature: str | None) -> None:  # fmt: skip
    headers = {k: v for k, v in (("Signature-Input", sig_input), ("Signature", signature)) if v is not None}
    with pytest.raises(SignatureInvalid):
        verify_message(HttpMessage(headers, "GET", URI), GET, keys)


def test_missing_covered_header_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    msg = _request(key)
    without = {k: v for k, v in msg.headers.items() if k != "Content-Type"}
    with pytest.raises(SignatureInvalid) as err:
        verify_message(HttpMessage(without, "POST", URI), REQ, keys, body=BODY)
    assert err.value.reason == "missing_component"
