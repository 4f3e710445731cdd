"""JWT issue/verify with an injected clock: claims, allow-list and the classic algorithm attacks."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from signing.b64 import b64url_encode
from signing.devpki import generate_ed25519, generate_p256, generate_rsa
from signing.errors import SignatureInvalid, TokenInvalid, UnknownKey
from signing.jwt import issue_jwt, verify_jwt
from signing.keys import SigningKey, VerificationKey

NOW = 1_748_395_200
AUD = "ningbo"
ISS = "https://issuer.example"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.of("consent-1", generate_p256())


@pytest.fixture(scope="module")
def keys(key: SigningKey) -> dict[str, VerificationKey]:
    return {key.kid: key.verification_key()}


def _claims(**over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISS, "sub": "holder", "aud": AUD, "jti": "j1", "iat": NOW, "exp": NOW + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _verify(token: str, keys: dict[str, VerificationKey], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"now": NOW + 10, "audience": AUD, "issuer": ISS, "typ": "JWT", "max_lifetime": 600}
    args.update(kw)
    return verify_jwt(token, keys, {"ES256"}, **args)


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    enc = [b64url_encode(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)]
    return ".".join(enc)


def test_round_trip_header_and_claims(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    token = issue_jwt(_claims(scope="A B"), key)
    assert pyjwt.get_unverified_header(token) == {"alg": "ES256", "kid": "consent-1", "typ": "JWT"}
    assert _verify(token, keys)["scope"] == "A B"


def test_eddsa_and_rs256_round_trip() -> None:
    for alg, private in (("EdDSA", generate_ed25519()), ("RS256", generate_rsa())):
        k = SigningKey.of(f"k-{alg}", private)
        token = issue_jwt(_claims(), k)
        claims = verify_jwt(token, {k.kid: k.verification_key()}, {alg}, now=NOW, audience=AUD)
        assert claims["sub"] == "holder"


@pytest.mark.parametrize(
    ("claims", "now", "reason"),
    [
        (_claims(exp=NOW + 5), NOW + 10, "expired"),
        (_claims(nbf=NOW + 100), NOW + 10, "not_yet_valid"),
        (_claims(iat=NOW + 100, exp=NOW + 200), NOW + 10, "not_yet_valid"),
        (_claims(exp=NOW + 601), NOW + 10, "lifetime_too_long"),
        (_claims(aud="hefei"), NOW + 10, "wrong_audience"),
        (_claims(iss="https://evil.example"), NOW + 10, "wrong_issuer"),
        (_claims(exp=None), NOW + 10, "missing_claim"),
        (_claims(exp="tomorrow"), NOW + 10, "bad_claim"),
    ],
)
def test_claim_refusals(key: SigningKey, keys: dict[str, VerificationKey], claims: dict[str, Any], now: int,
                        reason: str) -> None:  # fmt: skip
    with pytest.raises(TokenInvalid) as err:
        _verify(issue_jwt(claims, key), keys, now=now)
    assert err.value.reason == reason


def test_leeway_is_applied_to_the_injected_clock(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    token = issue_jwt(_claims(exp=NOW + 5), key)
    assert _verify(token, keys, now=NOW + 8, leeway=5)["jti"] == "j1"
    with pytest.raises(TokenInvalid):
        _verify(token, keys, now=NOW + 11, leeway=5)


def test_token_with_audience_refused_when_caller_names_none(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    with pytest.raises(TokenInvalid):
        _verify(issue_jwt(_claims(), key), keys, audience=None)


def test_typ_enforced(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    with pytest.raises(SignatureInvalid) as err:
        _verify(issue_jwt(_claims(), key, typ="at+jwt"), keys)
    assert err.value.reason == "typ_not_allowed"


def test_alg_none_refused(keys: dict[str, VerificationKey]) -> None:
    token = _unsigned({"alg": "none", "kid": "consent-1", "typ": "JWT"}, _claims()) + "."
    with pytest.raises(SignatureInvalid) as err:
        verify_jwt(token, keys, {"ES256", "none"}, now=NOW, audience=AUD)
    assert err.value.reason == "alg_not_allowed"


def test_hs256_keyed_with_public_key_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    pem = key.verification_key().public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned({"alg": "HS256", "kid": "consent-1", "typ": "JWT"}, _claims())
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url_encode(mac)}"
    for allowed in ({"ES256"}, {"ES256", "HS256"}):
        with pytest.raises(SignatureInvalid) as err:
            verify_jwt(token, keys, allowed, now=NOW, audience=AUD)
        assert err.value.reason == "alg_not_allowed"


def test_rs256_es256_swap_refused(key: SigningKey) -> None:
    rsa_key = SigningKey.of("rsa-1", generate_rsa())
    registry = {"rsa-1": rsa_key.verification_key(), key.kid: key.verification_key()}
    # An ES256 token naming the RSA key's kid
    forged = pyjwt.encode(_claims(), key.private, algorithm="ES256", headers={"kid": "rsa-1"})
    with pytest.raises(SignatureInvalid) as err:
        verify_jwt(forged, registry, {"ES256", "RS256"}, now=NOW, audience=AUD)
    assert err.value.reason == "alg_key_mismatch"
    # An RS256 token when only ES256 is allowed
    with pytest.raises(SignatureInvalid):
        verify_jwt(issue_jwt(_claims(), rsa_key), registry, {"ES256"}, now=NOW, audience=AUD)


def test_unknown_kid_and_wrong_key(key: SigningKey) -> None:
    token = issue_jwt(_claims(), key)
    with pytest.raises(UnknownKey):
        verify_jwt(token, {}, {"ES256"}, now=NOW, audience=AUD)
    impostor = {key.kid: VerificationKey.of(key.kid, generate_p256().public_key())}
    with pytest.raises(SignatureInvalid) as err:
        verify_jwt(token, impostor, {"ES256"}, now=NOW, audience=AUD)
    assert err.value.reason == "bad_signature"


def test_crit_header_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    token = pyjwt.encode(_claims(), key.private, algorithm="ES256", headers={"kid": key.kid, "crit": ["exp"]})
    with pytest.raises(SignatureInvalid) as err:
        verify_jwt(token, keys, {"ES256"}, now=NOW, audience=AUD)
    # PyJWT already refuses an unknown crit while reading the header; either way it never verifies.
    assert err.value.reason in {"crit_not_allowed", "malformed_token"}


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "x" * 9000, "eyJhbGciOiJFUzI1NiJ9.e30"])
def test_garbage_tokens(keys: dict[str, VerificationKey], token: str) -> None:
    with pytest.raises(SignatureInvalid):
        verify_jwt(token, keys, {"ES256"}, now=NOW, audience=AUD)


def test_tampered_claims_refused(key: SigningKey, keys: dict[str, VerificationKey]) -> None:
    header, _, sig = issue_jwt(_claims(), key).split(".")
    forged = ".".join([header, b64url_encode(json.dumps(_claims(sub="someone-else")).encode()), sig])
    with pytest.raises(SignatureInvalid):
        _verify(forged, keys)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_time_claim_of_hundreds_of_digits_is_token_invalid_not_overflow(
    key: SigningKey, keys: dict[str, VerificationKey], claim: str
) -> None:
    """A signed token whose time claim does not fit a float is refused (the edge fuzz rule), never OverflowError."""
    claims = {"iss": "a", "iat": 1_000, "exp": 2_000, claim: 10**400}
    with pytest.raises(TokenInvalid):
        verify_jwt(issue_jwt(claims, key), keys, ("ES256",), now=1_500)
