"""Key loading and key rings.

Supported: Ed25519 (``EdDSA``), ECDSA P-256 (``ES256``), RSA (``RS256``, >= 2048 bits) through ``cryptography``;
SM2 (``SM2-SM3``) through ``tongsuopy``, from PEM or from the raw hex forms the interface documents print
(private scalar ``d`` and the uncompressed public point ``04|x|y``).

A :class:`KeyRing` holds one signing key and every verification key by kid: rotating means signing with the new
key while the old public key still verifies until it is removed. Keys never appear in ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec

from signing.errors import KeyInvalid, UnknownKey

__all__ = [
    "ALG_EDDSA",
    "ALG_ES256",
    "ALG_RS256",
    "ALG_SM2_SM3",
    "KeyRing",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "VerificationKey",
    "alg_for_key",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_public_key_file",
    "public_key_of",
    "sm2_private_from_hex",
    "sm2_public_from_hex",
    "sm2_public_to_hex",
]

ALG_ES256 = "ES256"
ALG_EDDSA = "EdDSA"
ALG_RS256 = "RS256"
ALG_SM2_SM3 = "SM2-SM3"

MIN_RSA_BITS = 2048

# tongsuopy keys are typed Any for mypy (no stubs); the unions below document intent.
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | Any
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey | Any


def _is_sm2(key: object) -> bool:
    return isinstance(key, sm_ec.EllipticCurvePrivateKey | sm_ec.EllipticCurvePublicKey)


def alg_for_key(key: object) -> str:
    """The one algorithm name a key may be used with (a key is never used with two algorithms)."""
    if _is_sm2(key):
        return ALG_SM2_SM3
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ALG_EDDSA
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyInvalid("unsupported_curve", f"EC curve {key.curve.name} is not P-256")
        return ALG_ES256
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyInvalid("rsa_too_small", f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}")
        return ALG_RS256
    raise KeyInvalid("unsupported_key_type", type(key).__name__)


def public_key_of(private: PrivateKey) -> PublicKey:
    """The public half of a private key of any supported type."""
    return private.public_key()


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with the kid and algorithm it signs under. ``repr`` never shows the key."""

    kid: str
    alg: str
    private: PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        actual = alg_for_key(self.private)
        if actual != self.alg:
            raise KeyInvalid("alg_key_mismatch", f"kid {self.kid!r}: key is for {actual}, not {self.alg}")

    @classmethod
    def of(cls, kid: str, private: PrivateKey) -> SigningKey:
        """Build with the algorithm inferred from the key type."""
        return cls(kid, alg_for_key(private), private)

    def verification_key(self) -> VerificationKey:
        """The matching public key under the same kid and algorithm."""
        return VerificationKey(self.kid, self.alg, public_key_of(self.private))


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key with the kid and the single algorithm it verifies."""

    kid: str
    alg: str
    public: PublicKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        actual = alg_for_key(self.public)
        if actual != self.alg:
            raise KeyInvalid("alg_key_mismatch", f"kid {self.kid!r}: key is for {actual}, not {self.alg}")

    @classmethod
    def of(cls, kid: str, public: PublicKey) -> VerificationKey:
        """Build with the algorithm inferred from the key type."""
        return cls(kid, alg_for_key(public), public)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """One signing key and every key that may verify (including the signing key's own public key).

    Rotation: ``ring.rotate(new_key)`` signs with ``new_key`` and keeps verifying the old kid until
    ``ring.retire(old_kid)``.
    """

    signing: SigningKey
    verification: Mapping[str, VerificationKey]

    @classmethod
    def create(cls, signing: SigningKey, others: Iterable[VerificationKey] = ()) -> KeyRing:
        """A ring whose verification keys are ``others`` plus the signing key's public key."""
        keys: dict[str, VerificationKey] = {}
        for key in (*others, signing.verification_key()):
            if key.kid in keys and keys[key.kid].alg != key.alg:
                raise KeyInvalid("duplicate_kid", f"kid {key.kid!r} registered twice with different algs")
            keys[key.kid] = key
        return cls(signing, dict(keys))

    def get(self, kid: str) -> VerificationKey:
        """The verification key for ``kid``; :class:`UnknownKey` when none."""
        try:
            return self.verification[kid]
        except KeyError:
            raise UnknownKey(detail="no verification key under the given kid") from None

    def rotate(self, new_signing: SigningKey) -> KeyRing:
        """Sign with ``new_signing`` from now on; every key that verified before still verifies."""
        return KeyRing.create(new_signing, self.verification.values())

    def retire(self, kid: str) -> KeyRing:
        """Stop accepting ``kid``; the current signing key cannot be retired."""
        if kid == self.signing.kid:
            raise KeyInvalid("retire_signing_key", "rotate to a new signing key before retiring this kid")
        return KeyRing(self.signing, {k: v for k, v in self.verification.items() if k != kid})


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else data


def load_private_key(pem: bytes | str, password: bytes | None = None) -> PrivateKey:
    """Load a PEM private key (PKCS#8 or traditional): Ed25519, P-256, RSA via cryptography, SM2 via tongsuopy."""
    data = _as_bytes(pem)
    key: Any
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (UnsupportedAlgorithm, ValueError, TypeError):
        # cryptography has no SM2 curve: such keys (and garbage) fall through to tongsuopy.
        try:
            key = sm_serialization.load_pem_private_key(data, password=password)
        except Exception as exc:  # tongsuopy raises assorted ValueError/TypeError/internal errors
            raise KeyInvalid("private_key_unreadable", "not a supported PEM private key") from exc
    alg_for_key(key)
    return key


def load_public_key(pem: bytes | str) -> PublicKey:
    """Load a PEM SubjectPublicKeyInfo: Ed25519, P-256, RSA via cryptography, SM2 via tongsuopy."""
    data = _as_bytes(pem)
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except (UnsupportedAlgorithm, ValueError, TypeError):
        try:
            key = sm_serialization.load_pem_public_key(data)
        except Exception as exc:  # tongsuopy raises assorted ValueError/TypeError/internal errors
            raise KeyInvalid("public_key_unreadable", "not a supported PEM public key") from exc
    alg_for_key(key)
    return key


def load_private_key_file(path: str | Path, password: bytes | None = None) -> PrivateKey:
    """:func:`load_private_key` from a file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyInvalid("key_file_unreadable", f"cannot read key file {path}") from exc
    return load_private_key(data, password)


def load_public_key_file(path: str | Path) -> PublicKey:
    """:func:`load_public_key` from a file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyInvalid("key_file_unreadable", f"cannot read key file {path}") from exc
    return load_public_key(data)


def sm2_private_from_hex(d_hex: str) -> Any:
    """An SM2 private key from the 32-byte scalar ``d`` in hex, as the interface documents print it."""
    try:
        d = int(d_hex, 16)
        if d <= 0 or len(d_hex) != 64:
            raise ValueError("d out of range")
        return sm_ec.derive_private_key(d, sm_ec.SM2())
    except (ValueError, TypeError) as exc:
        raise KeyInvalid("sm2_private_invalid", "SM2 private scalar must be 64 hex digits in range") from exc


def sm2_public_from_hex(point_hex: str) -> Any:
    """An SM2 public key from the uncompressed point ``04|x|y`` in hex (130 hex digits)."""
    try:
        raw = bytes.fromhex(point_hex)
        if len(raw) != 65 or raw[0] != 0x04:
            raise ValueError("not an uncompressed point")
        return sm_ec.EllipticCurvePublicKey.from_encoded_point(sm_ec.SM2(), raw)
    except Exception as exc:  # tongsuopy raises ValueError or an internal error for points off the curve
        raise KeyInvalid("sm2_public_invalid", "SM2 public key must be an uncompressed point on the curve") from exc


def sm2_public_to_hex(public: Any) -> str:
    """The uncompressed point ``04|x|y`` of an SM2 public key, lower-case hex."""
    raw: bytes = public.public_bytes(sm_serialization.Encoding.X962, sm_serialization.PublicFormat.UncompressedPoint)
    return raw.hex()
