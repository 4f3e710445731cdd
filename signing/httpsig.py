"""HTTP Message Signatures (RFC 9421) with Ed25519, and RFC 9530 ``Content-Digest`` (sha-256).

Signing: build the signature base from an ordered component list (``@method``, ``@target-uri``, ``@status``,
lower-case header names) and the parameters ``created``, ``nonce``, ``keyid``, ``alg`` (in that order), sign it
with Ed25519, render ``Signature-Input``/``Signature`` under a label (``sig1``).

Verifying is fail-closed: the caller states the exact component list it insists on (another list or order is
refused), the label must be present, the parameters must be exactly ``created`` (integer), ``nonce``, ``keyid``
and ``alg`` (strings) with ``alg`` equal to ``ed25519``, the key id must be registered for EdDSA, and when the
body is given its ``Content-Digest`` must be present and match. The result carries ``(keyid, created, nonce)``
so the caller applies its time window and nonce cache (:mod:`signing.replay`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from signing.errors import DigestMismatch, SignatureInvalid, UnknownKey
from signing.keys import ALG_EDDSA, KeyRing, SigningKey, VerificationKey
from signing.sfv import ParamValue, parse_dictionary, serialize_inner_list

__all__ = [
    "HttpMessage",
    "SignatureResult",
    "content_digest",
    "sign_message",
    "signature_base",
    "verify_content_digest",
    "verify_message",
]

HTTPSIG_ALG = "ed25519"
_PARAM_NAMES = ("created", "nonce", "keyid", "alg")
_DERIVED = frozenset({"@method", "@target-uri", "@status"})


@dataclass(frozen=True)
class HttpMessage:
    """The parts of a request or response a signature can cover. ``headers`` is looked up case-insensitively."""

    headers: Mapping[str, str]
    method: str | None = None
    target_uri: str | None = None
    status: int | None = None

    def component(self, name: str) -> str:
        """The value of one covered component; :class:`SignatureInvalid` when the message lacks it."""
        if name == "@method":
            value = self.method
        elif name == "@target-uri":
            value = self.target_uri
        elif name == "@status":
            value = None if self.status is None else f"{self.status:03d}"
        elif name.startswith("@") or name != name.lower() or not name:
            raise SignatureInvalid("component_not_allowed", f"component {name!r} is not supported")
        else:
            value = self.header(name)
        if value is None:
            raise SignatureInvalid("missing_component", f"message lacks covered component {name!r}")
        return value

    def header(self, name: str) -> str | None:
        """A header value, whitespace-trimmed, found case-insensitively."""
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value.strip(" \t")
        return None


@dataclass(frozen=True)
class SignatureResult:
    """What the caller needs after a good signature: who signed, and what to replay-check."""

    keyid: str
    created: int
    nonce: str


def content_digest(body: bytes) -> str:
    """``sha-256=:<Base64 SHA-256>:`` (RFC 9530)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def verify_content_digest(header: str | None, body: bytes) -> None:
    """Check a ``Content-Digest`` header's sha-256 member against ``body``.

    Raises :class:`DigestMismatch` on mismatch and :class:`SignatureInvalid` when missing or malformed
    (other algorithms in the header are ignored; sha-256 must be present).
    """
    if not header:
        raise SignatureInvalid("missing_digest", "Content-Digest is missing")
    member = parse_dictionary(header).get("sha-256")
    if member is None or member.data is None or member.params:
        raise SignatureInvalid("missing_digest", "Content-Digest has no sha-256 byte sequence")
    if not hmac.compare_digest(member.data, hashlib.sha256(body).digest()):
        raise DigestMismatch(detail="Content-Digest does not match the body")


def _params(created: int, nonce: str, keyid: str) -> tuple[tuple[str, ParamValue], ...]:
    return (("created", created), ("nonce", nonce), ("keyid", keyid), ("alg", HTTPSIG_ALG))


def signature_base(message: HttpMessage, components: Sequence[str], signature_params: str) -> bytes:
    """RFC 9421 §2.5 signature base: one ``"name": value`` line per component, then ``@signature-params``."""
    if len(set(components)) != len(components):
        raise SignatureInvalid("component_not_allowed", "a component is covered twice")
    lines = []
    for name in components:
        value = message.component(name)
        if "\n" in value or "\r" in value:
            raise SignatureInvalid("malformed_component", f"component {name!r} holds a line break")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("utf-8")


def sign_message(
    message: HttpMessage,
    components: Sequence[str],
    key: SigningKey,
    *,
    created: int,
    nonce: str,
    label: str = "sig1",
) -> dict[str, str]:
    """Return the ``Signature-Input`` and ``Signature`` headers for ``message``.

    When ``content-digest`` is covered, the caller sets that header first (:func:`content_digest`).
    """
    private = key.private
    if key.alg != ALG_EDDSA or not isinstance(private, ed25519.Ed25519PrivateKey):
        raise SignatureInvalid("alg_not_allowed", "RFC 9421 signing here is Ed25519 only")
    params_value = serialize_inner_list(tuple(components), _params(created, nonce, key.kid))
    sig = private.sign(signature_base(message, components, params_value))
    return {
        "Signature-Input": f"{label}={params_value}",
        "Signature": f"{label}=:{base64.b64encode(sig).decode('ascii')}:",
    }


def verify_message(
    message: HttpMessage,
    expected_components: Sequence[str],
    keys_by_kid: Mapping[str, VerificationKey] | KeyRing,
    *,
    body: bytes | None = None,
    label: str = "sig1",
) -> SignatureResult:
    """Verify the ``label`` signature over exactly ``expected_components``; see the module docstring."""
    expected = tuple(expected_components)
    if "content-digest" in expected and body is None:
        raise SignatureInvalid("missing_digest", "content-digest is covered but no body was given")
    sig_input = message.header("signature-input")
    sig_header = message.header("signature")
    if not sig_input or not sig_header:
        raise SignatureInvalid("missing_signature", "Signature-Input or Signature is missing")
    inp = parse_dictionary(sig_input).get(label)
    sig = parse_dictionary(sig_header).get(label)
    if inp is None or inp.items is None or sig is None or sig.data is None or sig.params:
        raise SignatureInvalid("missing_signature", f"no signature under label {label!r}")
    if inp.items != expected:
        raise SignatureInvalid("components_not_allowed", "covered components differ from the required list")
    names = [n for n, _ in inp.params]
    if sorted(names) != sorted(_PARAM_NAMES):
        raise SignatureInvalid("params_not_allowed", "parameters must be exactly created, nonce, keyid, alg")
    params = dict(inp.params)
    created, nonce, keyid, alg = (params[n] for n in _PARAM_NAMES)
    if not isinstance(created, int) or not isinstance(nonce, str) or not isinstance(keyid, str):
        raise SignatureInvalid("params_not_allowed", "created must be an integer, nonce and keyid strings")
    if not isinstance(alg, str) or alg != HTTPSIG_ALG:
        raise SignatureInvalid("alg_not_allowed", 'alg must be "ed25519"')
    key = keys_by_kid.verification.get(keyid) if isinstance(keys_by_kid, KeyRing) else keys_by_kid.get(keyid)
    if key is None:
        raise UnknownKey(detail="signature keyid is not registered")
    if key.alg != ALG_EDDSA or not isinstance(key.public, ed25519.Ed25519PublicKey):
        raise SignatureInvalid("alg_key_mismatch", "keyid is not registered for Ed25519")
    if body is not None:
        verify_content_digest(message.header("content-digest"), body)
    params_value = serialize_inner_list(inp.items, inp.params)
    base = signature_base(message, expected, params_value)
    try:
        key.public.verify(sig.data, base)
    except InvalidSignature as exc:
        raise SignatureInvalid("bad_signature", "HTTP message signature does not verify") from exc
    return SignatureResult(keyid, created, nonce)
