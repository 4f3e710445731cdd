"""Detached JWS with unencoded payload (RFC 7515 Appendix F + RFC 7797, ``b64:false``).

Wire form: ``<BASE64URL(protected header)>..<BASE64URL(signature)>``; the signing input is
``ASCII(protected b64) + "." + body bytes`` (the exact bytes, never re-serialised).

Verification is done with ``cryptography`` directly (PyJWT's decode costs 2-3x the raw verify) and is
fail-closed: the protected header must be a JSON object with exactly the members ``alg``, ``kid``, ``b64``,
``crit`` (plus optional ``typ``/``cty``), ``alg`` in the caller's allow-list *and* equal to the key's own
algorithm, a known ``kid``, ``b64`` false and ``crit`` exactly ``["b64"]``; ES256 signatures are the 64-byte
``R‖S`` form (RFC 7518 §3.4). Never trust the message to say how to verify it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import lru_cache
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from signing.b64 import b64url_decode, b64url_encode
from signing.errors import SignatureInvalid, UnknownKey
from signing.keys import ALG_EDDSA, ALG_ES256, KeyRing, SigningKey, VerificationKey

__all__ = ["JWS_ALGS", "protected_header", "sign_detached", "verify_detached"]

JWS_ALGS = frozenset({ALG_ES256, ALG_EDDSA})
_ES256_HALF = 32
_MAX_HEADER = 4096
_ALLOWED_MEMBERS = frozenset({"alg", "kid", "b64", "crit", "typ", "cty"})
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@lru_cache(maxsize=64)
def protected_header(kid: str, alg: str = ALG_ES256) -> str:
    """The Base64url protected header in the member order the interface documents print (made once per key: a
    signer puts the same header on every message)."""
    header = {"alg": alg, "kid": kid, "b64": False, "crit": ["b64"]}
    return b64url_encode(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def sign_detached(body: bytes, key: SigningKey) -> str:
    """Sign ``body`` (exact bytes); returns ``<protected>..<signature>``."""
    if key.alg not in JWS_ALGS:
        raise SignatureInvalid("alg_not_allowed", f"JWS does not sign with {key.alg}")
    protected = protected_header(key.kid, key.alg)
    signing_input = protected.encode("ascii") + b"." + body
    private = key.private
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signing_input, _ECDSA_SHA256))
        sig = r.to_bytes(_ES256_HALF, "big") + s.to_bytes(_ES256_HALF, "big")
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        sig = private.sign(signing_input)
    else:  # unreachable: SigningKey ties the alg to the key type
        raise SignatureInvalid("alg_not_allowed", "JWS key type not supported")
    return f"{protected}..{b64url_encode(sig)}"


@lru_cache(maxsize=256)
def _parse_header(protected: str) -> Mapping[str, object]:
    """The protected header's members, read-only. A partner sends the same header on every message, so a parse is
    kept (bounded, and only a well-formed one: a malformed header raises each time it comes)."""
    raw = b64url_decode(protected, "JWS protected header")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignatureInvalid("malformed_header", "JWS protected header is not JSON") from exc
    if not isinstance(header, dict):
        raise SignatureInvalid("malformed_header", "JWS protected header is not an object")
    unknown = set(header) - _ALLOWED_MEMBERS
    if unknown:
        raise SignatureInvalid("header_member_not_allowed", f"JWS header members {sorted(unknown)} refused")
    return MappingProxyType(header)


def verify_detached(
    header_value: str,
    body: bytes,
    keys_by_kid: Mapping[str, VerificationKey] | KeyRing,
    allowed_algs: Collection[str],
) -> str:
    """Verify a detached unencoded-payload JWS over ``body``; returns the kid that verified.

    Raises :class:`SignatureInvalid` (malformed, refused alg/crit/b64, bad signature) or :class:`UnknownKey`.
    """
    if not isinstance(header_value, str) or not header_value or len(header_value) > _MAX_HEADER:
        raise SignatureInvalid("missing_signature", "no JWS header value")
    parts = header_value.split(".")
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        raise SignatureInvalid("malformed_jws", "JWS must be '<protected>..<signature>'")
    protected, _, sig_b64 = parts
    header = _parse_header(protected)

    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algs or alg not in JWS_ALGS:
        raise SignatureInvalid("alg_not_allowed", "JWS alg is not in the allow-list")
    if header.get("b64") is not False:
        raise SignatureInvalid("b64_not_false", "JWS must have b64 false (unencoded payload)")
    crit = header.get("crit")
    if not isinstance(crit, list) or crit != ["b64"]:
        raise SignatureInvalid("crit_not_allowed", 'JWS crit must be exactly ["b64"]')
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureInvalid("kid_missing", "JWS header has no kid")

    key = keys_by_kid.get(kid) if isinstance(keys_by_kid, Mapping) else _ring_get(keys_by_kid, kid)
    if key is None:
        raise UnknownKey(detail="JWS kid is not registered")
    if key.alg != alg:
        raise SignatureInvalid("alg_key_mismatch", "JWS alg does not match the registered key's algorithm")

    sig = b64url_decode(sig_b64, "JWS signature")
    signing_input = protected.encode("ascii") + b"." + body
    public = key.public
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            if len(sig) != 2 * _ES256_HALF:
                raise SignatureInvalid("bad_signature_length", "ES256 signature must be 64 bytes R||S")
            r = int.from_bytes(sig[:_ES256_HALF], "big")
            s = int.from_bytes(sig[_ES256_HALF:], "big")
            public.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, signing_input)
        else:  # unreachable: VerificationKey ties the alg to the key type
            raise SignatureInvalid("alg_key_mismatch", "JWS key type not supported")
    except InvalidSignature as exc:
        raise SignatureInvalid("bad_signature", "JWS signature does not verify") from exc
    return kid


def _ring_get(ring: KeyRing, kid: str) -> VerificationKey | None:
    return ring.verification.get(kid)
