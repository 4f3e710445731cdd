"""Detached JWS (RFC 7797): round trips, key rotation, and every refusal named in the brief."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from signing.b64 import b64url_decode, b64url_encode
from signing.devpki import generate_ed25519, generate_p256, generate_rsa
from signing.errors import SignatureInvalid, SigningError, UnknownKey
from signing.jws import sign_detached, verify_detached
from signing.keys import KeyRing, SigningKey, VerificationKey

BODY = '{"caseNo":"3302002405421339994","status":"SB","备注":"材料齐全"}'.encode()


@pytest.fixture(scope="module")
def es_key() -> SigningKey:
    return SigningKey.of("k-es-1", generate_p256())


@pytest.fixture(scope="module")
def keys(es_key: SigningKey) -> dict[str, VerificationKey]:
    return {es_key.kid: es_key.verification_key()}


def _forge(header: dict[str, object], signing_input_sig: bytes) -> str:
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    return f"{protected}..{b64url_encode(signing_input_sig)}"


def _es256_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _signed_with_header(key: SigningKey, header: dict[str, object], body: bytes = BODY) -> str:
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    sig = _es256_raw(key.private, protected.encode() + b"." + body)
    return f"{protected}..{b64url_encode(sig)}"


def test_es256_round_trip(es_key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    value = sign_detached(BODY, es_key)
    protected, empty, sig = value.split(".")
    assert empty == ""
    assert json.loads(b64url_decode(protected)) == {"alg": "ES256", "kid": "k-es-1", "b64": False, "crit": ["b64"]}
    assert len(b64url_decode(sig)) == 64
    assert verify_detached(value, BODY, keys, {"ES256"}) == "k-es-1"


def test_eddsa_round_trip() -> None:
    key = SigningKey.of("k-ed", generate_ed25519())
    value = sign_detached(BODY, key)
    assert verify_detached(value, BODY, {key.kid: key.verification_key()}, {"EdDSA"}) == "k-ed"
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(value, BODY, {key.kid: key.verification_key()}, {"ES256"})
    assert err.value.reason == "alg_not_allowed"


def test_rotation_new_key_signs_old_key_still_verifies(es_key: SigningKey) -> None:
    ring = KeyRing.create(es_key)
    old_value = sign_detached(BODY, ring.signing)
    ring = ring.rotate(SigningKey.of("k-es-2", generate_p256()))
    new_value = sign_detached(BODY, ring.signing)
    assert verify_detached(old_value, BODY, ring, {"ES256"}) == "k-es-1"
    assert verify_detached(new_value, BODY, ring, {"ES256"}) == "k-es-2"
    ring = ring.retire("k-es-1")
    with pytest.raises(UnknownKey):
        verify_detached(old_value, BODY, ring, {"ES256"})


def test_tampered_body_refused(es_key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    value = sign_detached(BODY, es_key)
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(value, BODY.replace(b"SB", b"BJ"), keys, {"ES256"})
    assert err.value.reason == "bad_signature"


def test_wrong_key_refused(es_key: SigningKey) -> None:
    value = sign_detached(BODY, es_key)
    impostor = VerificationKey.of("k-es-1", generate_p256().public_key())
    with pytest.raises(SignatureInvalid):
        verify_detached(value, BODY, {"k-es-1": impostor}, {"ES256"})


def test_unknown_kid_refused(es_key: SigningKey) -> None:
    value = sign_detached(BODY, es_key)
    other = SigningKey.of("k-other", generate_p256()).verification_key()
    with pytest.raises(UnknownKey):
        verify_detached(value, BODY, {other.kid: other}, {"ES256"})


def test_alg_none_refused(keys: dict[str, VerificationKey]) -> None:
    value = _forge({"alg": "none", "kid": "k-es-1", "b64": False, "crit": ["b64"]}, b"")
    with pytest.raises(SignatureInvalid):
        verify_detached(value.rstrip("."), BODY, keys, {"ES256"})
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(value + "AA", BODY, keys, {"ES256", "none"})
    assert err.value.reason == "alg_not_allowed"


def test_hs256_keyed_with_public_key_refused(es_key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    public_pem = es_key.verification_key().public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "k-es-1", "b64": False, "crit": ["b64"]}
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    mac = hmac.new(public_pem, protected.encode() + b"." + BODY, hashlib.sha256).digest()
    for allowed in ({"ES256"}, {"ES256", "HS256"}):
        with pytest.raises(SignatureInvalid) as err:
            verify_detached(f"{protected}..{b64url_encode(mac)}", BODY, keys, allowed)
        assert err.value.reason == "alg_not_allowed"


def test_rs256_es256_swap_refused(es_key: SigningKey) -> None:
    rsa_key = generate_rsa()
    rsa_ver = VerificationKey.of("k-rsa", rsa_key.public_key())
    header = {"alg": "RS256", "kid": "k-rsa", "b64": False, "crit": ["b64"]}
    protected = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    sig = rsa_key.sign(protected.encode() + b"." + BODY, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(SignatureInvalid):
        verify_detached(f"{protected}..{b64url_encode(sig)}", BODY, {"k-rsa": rsa_ver}, {"ES256", "RS256"})
    # ES256 header naming a key registered for another algorithm
    mislabelled = _signed_with_header(es_key, {"alg": "ES256", "kid": "k-rsa", "b64": False, "crit": ["b64"]})
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(mislabelled, BODY, {"k-rsa": rsa_ver}, {"ES256"})
    assert err.value.reason == "alg_key_mismatch"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "ES256", "kid": "k-es-1", "b64": False, "crit": ["b64", "exp"]}, "crit_not_allowed"),
        ({"alg": "ES256", "kid": "k-es-1", "b64": False, "crit": ["b64"], "exp": 1}, "header_member_not_allowed"),
        ({"alg": "ES256", "kid": "k-es-1", "b64": False}, "crit_not_allowed"),
        ({"alg": "ES256", "kid": "k-es-1", "b64": True, "crit": ["b64"]}, "b64_not_false"),
        ({"alg": "ES256", "kid": "k-es-1", "crit": ["b64"]}, "b64_not_false"),
        ({"alg": "ES256", "kid": "k-es-1", "b64": "false", "crit": ["b64"]}, "b64_not_false"),
        ({"alg": "ES256", "b64": False, "crit": ["b64"]}, "kid_missing"),
        ({"alg": "ES256", "kid": 7, "b64": False, "crit": ["b64"]}, "kid_missing"),
        ({"kid": "k-es-1", "b64": False, "crit": ["b64"]}, "alg_not_allowed"),
    ],
)
def test_header_refusals(es_key: SigningKey, keys: dict[str, VerificationKey], header: dict[str, object],
                         reason: str) -> None:  # fmt: skip
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(_signed_with_header(es_key, header), BODY, keys, {"ES256"})
    assert err.value.reason == reason


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "..",
        "a..",
        "..sig",
        "e30..AAAA",  # header {} (no alg)
        "bm90IGpzb24..AAAA",  # "not json"
        "WzFd..AAAA",  # [1]
        "eyJhbGciOiJFUzI1NiJ9.payload.AAAA",  # attached payload
        "eyJhbGciOiJFUzI1NiJ9==..AAAA",  # padded base64url
        "eyJhbGci+OiJFUzI1NiJ9..AAAA",  # standard alphabet
        "x" * 5000,
    ],
)
def test_garbage_headers_raise_signature_invalid(keys: dict[str, VerificationKey], value: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_detached(value, BODY, keys, {"ES256"})


def test_truncated_and_der_signatures_refused(es_key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    value = sign_detached(BODY, es_key)
    protected, _, sig = value.split(".")
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(f"{protected}..{sig[:-4]}", BODY, keys, {"ES256"})
    assert err.value.reason in {"bad_signature_length", "bad_base64"}
    der = es_key.private.sign(protected.encode() + b"." + BODY, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SignatureInvalid) as err:
        verify_detached(f"{protected}..{b64url_encode(der)}", BODY, keys, {"ES256"})
    assert err.value.reason == "bad_signature_length"


def test_non_string_header_value_is_a_signing_error(keys: dict[str, VerificationKey]) -> None:
    with pytest.raises(SigningError):
        verify_detached(None, BODY, keys, {"ES256"})  # type: ignore[arg-type]


def test_a_kept_header_parse_decides_nothing(es_key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    """The parsed protected header is kept per header value (a partner repeats it): every check after the parse
    still runs per call, so the same header is refused under an allow-list without its alg, or over another body."""
    value = sign_detached(BODY, es_key)
    assert verify_detached(value, BODY, keys, {"ES256"}) == "k-es-1"
    with pytest.raises(SignatureInvalid) as refused:
        verify_detached(value, BODY, keys, {"EdDSA"})
    assert refused.value.reason == "alg_not_allowed"
    with pytest.raises(SignatureInvalid) as bad:
        verify_detached(value, BODY + b" ", keys, {"ES256"})
    assert bad.value.reason == "bad_signature"
    with pytest.raises(UnknownKey):
        verify_detached(value, BODY, {}, {"ES256"})


def test_a_malformed_header_is_refused_every_time(keys: dict[str, VerificationKey]) -> None:
    value = f"{b64url_encode(b'{not json')}..{b64url_encode(bytes(64))}"
    for _ in range(2):
        with pytest.raises(SignatureInvalid) as refused:
            verify_detached(value, BODY, keys, {"ES256"})
        assert refused.value.reason == "malformed_header"
