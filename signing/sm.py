"""Chinese commercial cryptography: SM3 digests, HMAC-SM3, SM2-with-SM3 signatures, SM4-GCM.

- SM3 and HMAC-SM3 come from ``cryptography`` (``hashes.SM3``).
- SM2 signatures come from ``tongsuopy`` (Tongsuo/OpenSSL). Tongsuo signs an SM2 key with SM3 over
  ``Z_A || M`` using the default distinguishing identifier ``1234567812345678`` (GB/T 35276 §5.3), which is
  what the interface documents require; the worked examples verify with it (see the tests). Signatures are DER
  ``SEQUENCE { r, s }``; Base64 helpers are here for the header forms.
- SM4-GCM (128-bit key, 96-bit nonce, 128-bit tag) from ``cryptography`` for later at-rest encryption.
"""

from __future__ import annotations

import hmac as std_hmac
import os
from typing import Any

from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.exceptions import InvalidSignature as SmInvalidSignature

from signing.b64 import b64decode_strict, b64encode
from signing.errors import KeyInvalid, SignatureInvalid
from signing.secret import Secret

__all__ = [
    "SM2_DEFAULT_USER_ID",
    "Sm4Gcm",
    "hmac_sm3",
    "hmac_sm3_hex",
    "sm2_generate",
    "sm2_sign",
    "sm2_sign_b64",
    "sm2_verify",
    "sm2_verify_b64",
    "sm3",
    "sm3_hex",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
    "verify_hmac_sm3_hex",
]

SM2_DEFAULT_USER_ID = b"1234567812345678"
_SM2_SM3 = sm_ec.ECDSA(sm_hashes.SM3())
_MAX_DER_SIG = 80  # SEQUENCE of two INTEGERs of at most 33 bytes each, plus headers
_GCM_NONCE = 12
_GCM_TAG = 16


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes)."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_hex(data: bytes) -> str:
    """Lower-case hex SM3 digest."""
    return sm3(data).hex()


def hmac_sm3(key: Secret | bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3."""
    raw = key.reveal() if isinstance(key, Secret) else key
    mac = hmac.HMAC(raw, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def hmac_sm3_hex(key: Secret | bytes, data: bytes) -> str:
    """Lower-case hex HMAC-SM3."""
    return hmac_sm3(key, data).hex()


def verify_hmac_sm3_hex(key: Secret | bytes, data: bytes, given_hex: str) -> None:
    """Constant-time check of a hex HMAC-SM3; :class:`SignatureInvalid` on mismatch or a malformed value."""
    if not isinstance(given_hex, str) or len(given_hex) != 64:
        raise SignatureInvalid("malformed_signature", "HMAC-SM3 value must be 64 hex digits")
    if not std_hmac.compare_digest(hmac_sm3_hex(key, data), given_hex.lower()):
        raise SignatureInvalid("bad_signature", "HMAC-SM3 does not verify")


def _check_user_id(user_id: bytes) -> None:
    # Tongsuopy exposes no distinguishing-identifier setter; it always applies the GB/T 35276 default.
    if user_id != SM2_DEFAULT_USER_ID:
        raise KeyInvalid("sm2_user_id_unsupported", "only the default SM2 user id 1234567812345678 is supported")


def _require_sm2(key: Any, private: bool) -> None:
    kind = sm_ec.EllipticCurvePrivateKey if private else sm_ec.EllipticCurvePublicKey
    if not isinstance(key, kind):
        raise KeyInvalid("not_sm2_key", "key is not an SM2 key")


def sm2_generate() -> Any:
    """A new SM2 private key."""
    return sm_ec.generate_private_key(sm_ec.SM2())


def sm2_sign(private: Any, data: bytes, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
    """SM2-with-SM3 signature over ``data`` (Z_A with ``user_id``), DER-encoded."""
    _check_user_id(user_id)
    _require_sm2(private, private=True)
    return bytes(private.sign(data, _SM2_SM3))


def sm2_verify(public: Any, signature: bytes, data: bytes, user_id: bytes = SM2_DEFAULT_USER_ID) -> None:
    """Verify a DER SM2-with-SM3 signature; :class:`SignatureInvalid` when it does not verify."""
    _check_user_id(user_id)
    _require_sm2(public, private=False)
    if not signature or len(signature) > _MAX_DER_SIG or signature[0] != 0x30:
        raise SignatureInvalid("malformed_signature", "SM2 signature is not DER")
    try:
        public.verify(signature, data, _SM2_SM3)
    except (SmInvalidSignature, CryptoInvalidSignature) as exc:
        raise SignatureInvalid("bad_signature", "SM2 signature does not verify") from exc
    except Exception as exc:  # tongsuopy reports malformed DER as an internal OpenSSL error
        raise SignatureInvalid("malformed_signature", "SM2 signature is unreadable") from exc


def sm2_sign_b64(private: Any, data: bytes) -> str:
    """SM2-with-SM3 DER signature, standard Base64 with padding (the header form)."""
    return b64encode(sm2_sign(private, data))


def sm2_verify_b64(public: Any, signature_b64: str, data: bytes) -> None:
    """Verify a Base64 DER SM2-with-SM3 signature."""
    if not signature_b64:
        raise SignatureInvalid("missing_signature", "no SM2 signature")
    sm2_verify(public, b64decode_strict(signature_b64, "SM2 signature"), data)


class Sm4Gcm:
    """SM4-GCM under one key (128-bit key, 96-bit nonce, 128-bit tag), its cipher algorithm made once.

    Why an object: the message log and the sealed outbox encrypt several times per message under one data key, and
    making the algorithm object (and checking the key) at every call was a measurable part of each. The key stays
    inside ``cryptography``'s object; nothing here shows it.
    """

    __slots__ = ("_algorithm",)

    def __init__(self, key: Secret | bytes) -> None:
        raw = key.reveal() if isinstance(key, Secret) else key
        if len(raw) != 16:
            raise KeyInvalid("sm4_key_size", "SM4 key must be 16 bytes")
        self._algorithm = algorithms.SM4(raw)

    def __repr__(self) -> str:
        return "Sm4Gcm(…)"

    def encrypt(self, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None) -> bytes:
        """``nonce(12) || ciphertext || tag(16)``; a fresh random nonce from the OS unless the caller gives one.

        A caller that gives the nonce must give a fresh unique one for every call under this key (GCM's rule).
        """
        iv = os.urandom(_GCM_NONCE) if nonce is None else nonce
        if len(iv) != _GCM_NONCE:
            raise KeyInvalid("gcm_nonce_size", "GCM nonce must be 12 bytes")
        enc = Cipher(self._algorithm, modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return iv + body + enc.tag

    def decrypt(self, blob: bytes, aad: bytes = b"") -> bytes:
        """Inverse of :meth:`encrypt`; :class:`SignatureInvalid` when the tag does not authenticate."""
        if len(blob) < _GCM_NONCE + _GCM_TAG:
            raise SignatureInvalid("ciphertext_truncated", "SM4-GCM blob too short")
        iv, body, tag = blob[:_GCM_NONCE], blob[_GCM_NONCE:-_GCM_TAG], blob[-_GCM_TAG:]
        dec = Cipher(self._algorithm, modes.GCM(iv, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        try:
            return dec.update(body) + dec.finalize()
        except InvalidTag as exc:
            raise SignatureInvalid("bad_tag", "SM4-GCM authentication failed") from exc


def sm4_gcm_encrypt(key: Secret | bytes, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None) -> bytes:
    """SM4-GCM: returns ``nonce(12) || ciphertext || tag(16)``. A fresh random nonce unless one is given."""
    return Sm4Gcm(key).encrypt(plaintext, aad, nonce)


def sm4_gcm_decrypt(key: Secret | bytes, blob: bytes, aad: bytes = b"") -> bytes:
    """Inverse of :func:`sm4_gcm_encrypt`; :class:`SignatureInvalid` when the tag does not authenticate."""
    return Sm4Gcm(key).decrypt(blob, aad)
