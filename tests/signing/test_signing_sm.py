"""SM3, HMAC-SM3, SM2-with-SM3 and SM4-GCM with real keys."""

from __future__ import annotations

import pytest

from signing.devpki import generate_p256, generate_sm2, private_key_pem, public_key_pem
from signing.errors import KeyInvalid, SignatureInvalid
from signing.keys import SigningKey, load_private_key, load_public_key, sm2_public_from_hex, sm2_public_to_hex
from signing.secret import Secret
from signing.sm import (
    hmac_sm3_hex,
    sm2_sign,
    sm2_sign_b64,
    sm2_verify,
    sm2_verify_b64,
    sm3_hex,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
    verify_hmac_sm3_hex,
)


def test_sm3_standard_vectors() -> None:
    # GB/T 32905-2016 Appendix A
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_hmac_sm3_keyed_and_constant_time_check() -> None:
    key = Secret("k")
    mac = hmac_sm3_hex(key, b"data")
    assert len(mac) == 64
    assert mac != hmac_sm3_hex(Secret("k2"), b"data")
    assert mac == hmac_sm3_hex(b"k", b"data")
    verify_hmac_sm3_hex(key, b"data", mac.upper())
    for bad in ("", mac[:-1], "z" * 64, None):
        with pytest.raises(SignatureInvalid):
            verify_hmac_sm3_hex(key, b"data", bad)  # type: ignore[arg-type]


def test_sm2_round_trip_and_refusals() -> None:
    private = generate_sm2()
    public = private.public_key()
    sig = sm2_sign(private, b"body")
    sm2_verify(public, sig, b"body")
    with pytest.raises(SignatureInvalid):
        sm2_verify(public, sig, b"Body")
    with pytest.raises(SignatureInvalid):
        sm2_verify(generate_sm2().public_key(), sig, b"body")
    for garbage in (b"", b"\x00" * 70, sig[:-3], b"\x30\x06\x02\x01\x01\x02\x01", b"\x30" + b"\xff" * 100):
        with pytest.raises(SignatureInvalid):
            sm2_verify(public, garbage, b"body")
    b64 = sm2_sign_b64(private, b"body")
    sm2_verify_b64(public, b64, b"body")
    for bad in ("", "not base64!", b64 + "\n", " " + b64, b64[:-4]):
        with pytest.raises(SignatureInvalid):
            sm2_verify_b64(public, bad, b"body")


def test_sm2_refuses_other_user_ids_and_key_types() -> None:
    private = generate_sm2()
    with pytest.raises(KeyInvalid):
        sm2_sign(private, b"x", user_id=b"ALICE123@YAHOO.COM")
    with pytest.raises(KeyInvalid):
        sm2_sign(generate_p256(), b"x")
    with pytest.raises(KeyInvalid):
        sm2_verify(generate_p256().public_key(), b"\x30\x00", b"x")


def test_sm2_pem_and_hex_round_trip() -> None:
    private = generate_sm2()
    loaded = load_private_key(private_key_pem(private))
    public = load_public_key(public_key_pem(private))
    assert sm2_public_to_hex(public) == sm2_public_to_hex(private.public_key())
    sm2_verify(sm2_public_from_hex(sm2_public_to_hex(public)), sm2_sign(loaded, b"m"), b"m")
    assert SigningKey.of("sm2-1", loaded).alg == "SM2-SM3"
    for bad in ("", "04", "05" + "00" * 64, "04" + "00" * 64, "zz" * 65):
        with pytest.raises(KeyInvalid):
            sm2_public_from_hex(bad)


def test_sm4_gcm_round_trip_and_tamper() -> None:
    key = Secret(bytes(range(16)))
    blob = sm4_gcm_encrypt(key, "电子证照".encode(), aad=b"record-1")
    assert sm4_gcm_decrypt(key, blob, aad=b"record-1") == "电子证照".encode()
    assert sm4_gcm_encrypt(key, b"x") != sm4_gcm_encrypt(key, b"x")  # fresh nonces
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    for args in ((key, tampered, b"record-1"), (key, blob, b"record-2"), (Secret(b"k" * 16), blob, b"record-1")):
        with pytest.raises(SignatureInvalid):
            sm4_gcm_decrypt(*args)
    with pytest.raises(SignatureInvalid):
        sm4_gcm_decrypt(key, b"short")
    with pytest.raises(KeyInvalid):
        sm4_gcm_encrypt(b"short", b"x")
