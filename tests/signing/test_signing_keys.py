"""Key loading for every supported type, key rings, the Secret type and JWKS publication."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signing.devpki import generate_ed25519, generate_p256, generate_rsa, generate_sm2, private_key_pem, public_key_pem
from signing.errors import KeyInvalid, UnknownKey
from signing.jwks import jwk_of, jwks_document
from signing.keys import (
    KeyRing,
    SigningKey,
    VerificationKey,
    alg_for_key,
    load_private_key,
    load_private_key_file,
    load_public_key,
    load_public_key_file,
)
from signing.secret import Secret, secret_from_env, secret_from_file


@pytest.mark.parametrize(
    ("make", "alg"),
    [(generate_p256, "ES256"), (generate_ed25519, "EdDSA"), (generate_rsa, "RS256"), (generate_sm2, "SM2-SM3")],
)
def test_pem_load_every_type(tmp_path, make, alg: str) -> None:  # type: ignore[no-untyped-def]
    private = make()
    (tmp_path / "k.pem").write_bytes(private_key_pem(private))
    (tmp_path / "k.pub").write_bytes(public_key_pem(private))
    assert alg_for_key(load_private_key_file(tmp_path / "k.pem")) == alg
    assert alg_for_key(load_public_key_file(tmp_path / "k.pub")) == alg
    assert alg_for_key(load_public_key(public_key_pem(private).decode())) == alg


def test_encrypted_pem_needs_its_password() -> None:
    pem = generate_p256().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert alg_for_key(load_private_key(pem, b"pw")) == "ES256"
    with pytest.raises(KeyInvalid):
        load_private_key(pem, b"wrong")


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_unreadable_keys(data: bytes) -> None:
    with pytest.raises(KeyInvalid):
        load_private_key(data)
    with pytest.raises(KeyInvalid):
        load_public_key(data)


def test_weak_or_foreign_keys_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyInvalid):
        alg_for_key(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(KeyInvalid):
        alg_for_key(rsa.generate_private_key(65537, 1024))
    with pytest.raises(KeyInvalid):
        load_private_key_file(tmp_path / "missing.pem")


def test_key_objects_never_show_key_material() -> None:
    key = SigningKey.of("kid-1", generate_p256())
    assert repr(key) == "SigningKey(kid='kid-1', alg='ES256')"
    assert "kid-1" in repr(key.verification_key())
    with pytest.raises(KeyInvalid):
        SigningKey("kid-1", "EdDSA", generate_p256())
    with pytest.raises(KeyInvalid):
        VerificationKey("kid-1", "RS256", generate_p256().public_key())


def test_key_ring_rotation_and_lookup() -> None:
    old = SigningKey.of("old", generate_p256())
    partner = VerificationKey.of("partner", generate_ed25519().public_key())
    ring = KeyRing.create(old, [partner])
    assert set(ring.verification) == {"old", "partner"}
    ring = ring.rotate(SigningKey.of("new", generate_p256()))
    assert ring.signing.kid == "new"
    assert set(ring.verification) == {"old", "new", "partner"}
    assert ring.get("old").alg == "ES256"
    with pytest.raises(UnknownKey):
        ring.get("nobody")
    with pytest.raises(KeyInvalid):
        ring.retire("new")
    assert set(ring.retire("old").verification) == {"new", "partner"}
    with pytest.raises(KeyInvalid):
        KeyRing.create(old, [VerificationKey.of("old", generate_ed25519().public_key())])


def test_secret_is_redacted_and_compares_in_constant_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = Secret("test-only-paas-token")
    for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"token": secret})):
        assert "paas" not in text
    assert secret.reveal() == b"test-only-paas-token"
    assert secret == Secret(b"test-only-paas-token")
    assert secret != Secret("other")
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(KeyInvalid):
        Secret("")
    (tmp_path / "s").write_text("from-file\n")
    assert secret_from_file(tmp_path / "s").reveal_str() == "from-file"
    assert secret_from_env("TB_SECRET", {"TB_SECRET": "from-env"}).reveal_str() == "from-env"
    with pytest.raises(KeyInvalid) as err:
        secret_from_env("TB_SECRET", {})
    assert "TB_SECRET" in str(err.value)
    with pytest.raises(KeyInvalid):
        secret_from_file(tmp_path / "missing")


def test_jwks_document_is_usable_by_a_jose_library() -> None:
    es = SigningKey.of("es", generate_p256())
    ed = SigningKey.of("ed", generate_ed25519())
    rs = SigningKey.of("rs", generate_rsa())
    sm = SigningKey.of("sm", generate_sm2())
    keys = [k.verification_key() for k in (es, ed, rs, sm)]
    doc = jwks_document(keys)
    assert [k["kid"] for k in doc["keys"]] == ["es", "ed", "rs"]
    assert [(k["kty"], k.get("crv")) for k in doc["keys"]] == [("EC", "P-256"), ("OKP", "Ed25519"), ("RSA", None)]
    for jwk, signer in zip(doc["keys"], (es, ed, rs), strict=True):
        assert "d" not in jwk
        assert jwk["use"] == "sig"
        public = pyjwt.PyJWK(jwk).key
        token = pyjwt.encode({"x": 1}, signer.private, algorithm=signer.alg)
        assert pyjwt.decode(token, public, algorithms=[signer.alg]) == {"x": 1}
    sm2_jwk = jwks_document(keys, include_sm2=True)["keys"][-1]
    assert (sm2_jwk["kty"], sm2_jwk["crv"], sm2_jwk["alg"]) == ("EC", "SM2", "SM2-SM3")
    assert jwk_of(keys[0]) == doc["keys"][0]
