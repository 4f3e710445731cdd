"""One exception tree for everything the signing package refuses.

::

    GatewayError (gateway.errors)     the gateway's one root
    └── SigningError                  base; ``reason`` is a short stable machine string
    ├── SignatureInvalid              missing, malformed, does not verify, alg/kid/crit/components not allowed
    │   └── DigestMismatch            a body digest (e.g. RFC 9530 Content-Digest) does not match the bytes
    ├── KeyNotTrusted                 the key is not one we accept
    │   └── UnknownKey                no key under that key id
    ├── KeyInvalid                    key material cannot be loaded (bad PEM, wrong curve, wrong size)
    ├── CertificateInvalid            untrusted chain, expired / not yet valid, wrong key usage
    ├── TokenInvalid                  a JWT that verifies cryptographically but fails a claim check
    │   (subclass of SignatureInvalid so callers that only care about "not acceptable" catch one type)
    └── Replayed                      timestamp outside the window, or nonce already seen

Why one tree: callers (adapters, middlewares) map a failure to a platform rejection code by *type*, never by
parsing a message. Foreign exceptions (cryptography's ``InvalidSignature``, PyJWT's errors, python-xmlsec's errors)
are translated once, where they arise, with ``raise ... from exc``.

Why under ``GatewayError`` although signing knows nothing of the gateway: one root lets every caller tell "refused on
purpose" from a bug with one ``except``. ``gateway.errors`` is a leaf module (it imports nothing of the project and
``gateway/__init__.py`` imports nothing), and the import-linter contract "signing knows no platforms..." allows
exactly this one import (``ignore_imports`` in pyproject.toml; docs/decisions.md, "One exception root").

Rule for messages: the ``reason`` and the message name what failed, never key material, secrets, tokens,
signatures or personal data.
"""

from __future__ import annotations

from gateway.errors import GatewayError

__all__ = [
    "CertificateInvalid",
    "DigestMismatch",
    "KeyInvalid",
    "KeyNotTrusted",
    "Replayed",
    "SignatureInvalid",
    "SigningError",
    "TokenInvalid",
    "UnknownKey",
]


class SigningError(GatewayError):
    """Base of every signing failure; ``reason`` is a stable, short, machine-readable string."""

    default_reason = "signing_error"

    def __init__(self, reason: str | None = None, detail: str = "") -> None:
        self.reason = reason or self.default_reason
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)


class SignatureInvalid(SigningError):
    """The signature is missing, malformed, uses a refused algorithm or parameter, or does not verify."""

    default_reason = "signature_invalid"


class DigestMismatch(SignatureInvalid):
    """A body digest carried with the message does not match the body bytes."""

    default_reason = "digest_mismatch"


class TokenInvalid(SignatureInvalid):
    """A token's signature verified but a claim (exp, nbf, iat, aud, iss, typ, required claim) was refused."""

    default_reason = "token_invalid"


class KeyNotTrusted(SigningError):
    """The key that would verify this message is not one we accept."""

    default_reason = "key_not_trusted"


class UnknownKey(KeyNotTrusted):
    """No verification key is registered under the key id the message names."""

    default_reason = "unknown_kid"


class KeyInvalid(SigningError):
    """Key material could not be loaded or is of the wrong type, curve or size."""

    default_reason = "key_invalid"


class CertificateInvalid(SigningError):
    """A certificate does not chain to the trust store, is outside its validity, or lacks the needed usage."""

    default_reason = "certificate_invalid"


class Replayed(SigningError):
    """The message's timestamp is outside the accepted window, or its nonce was already seen."""

    default_reason = "replayed"
