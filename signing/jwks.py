"""Publish verification keys as a JWKS document (RFC 7517/7518/8037).

- ECDSA P-256: ``{"kty":"EC","crv":"P-256","x","y"}``; Ed25519: ``{"kty":"OKP","crv":"Ed25519","x"}``;
  RSA: ``{"kty":"RSA","n","e"}``; each with ``kid``, ``use`` and ``alg``.
- SM2 has no registered JOSE curve. It is published as ``{"kty":"EC","crv":"SM2","alg":"SM2-SM3"}`` only
  when ``include_sm2=True`` — this is **non-standard**: standard JOSE libraries reject it, so it is off by
  default and meant for partners who agreed to read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from signing.b64 import b64url_encode
from signing.errors import KeyInvalid
from signing.keys import ALG_SM2_SM3, VerificationKey, sm2_public_to_hex

__all__ = ["jwk_of", "jwks_document"]


def _int(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def jwk_of(key: VerificationKey, use: str = "sig") -> dict[str, Any]:
    """The public JWK of one verification key (never any private member)."""
    base: dict[str, Any] = {"kid": key.kid, "use": use, "alg": key.alg}
    pub = key.public
    if key.alg == ALG_SM2_SM3:
        point = bytes.fromhex(sm2_public_to_hex(pub))
        return {"kty": "EC", "crv": "SM2", "x": b64url_encode(point[1:33]), "y": b64url_encode(point[33:]), **base}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _int(nums.x, 32), "y": _int(nums.y, 32), **base}
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw), **base}
    if isinstance(pub, rsa.RSAPublicKey):
        rnums = pub.public_numbers()
        return {"kty": "RSA", "n": _int(rnums.n), "e": _int(rnums.e), **base}
    raise KeyInvalid("unsupported_key_type", "key type cannot be published as a JWK")


def jwks_document(keys: Iterable[VerificationKey], *, include_sm2: bool = False, use: str = "sig") -> dict[str, Any]:
    """``{"keys": [...]}`` for the given keys; SM2 keys are skipped unless ``include_sm2`` (non-standard)."""
    return {"keys": [jwk_of(k, use) for k in keys if include_sm2 or k.alg != ALG_SM2_SM3]}
