"""Self-contained export files of sealed segments, and their offline verification.

An export is ONE canonical JSON document (:func:`.chain.canonical_json`, ASCII, no whitespace)::

    {"anchor": {...}, "entries": [...], "format": "tongban-msglog-export/1",
     "jwks": {"keys": [...]}, "seals": [...]}

Why canonical: every byte of the file then means something. :func:`verify_export` re-serialises what
it read and refuses a file that is not byte-identical, so a change anywhere (even a space, even in
a part no hash covers) makes verification fail; a change that survives re-serialisation changes a
hashed value, a signature or the published key.

Why the caller supplies the public keys: the JWKS inside the file says which keys signed, for
convenience, but a file must never say how to verify itself (STYLE.md lesson 7). The file's JWKS
must match the trusted keys exactly.

Ciphertexts stay encrypted in the file: the export is evidence of integrity, and needs no
decryption key to verify.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing.b64 import b64url_decode
from signing.errors import SigningError
from signing.jwks import jwk_of
from signing.keys import VerificationKey

from .api import BAD_SEAL, MALFORMED, Anchor, Entry, Problem, Seal, VerifyReport
from .chain import b64_or_none, canonical_json, entry_fields
from .errors import MessageLogError
from .verify import verify_chain

__all__ = ["EXPORT_FORMAT", "keys_from_jwks", "verify_export", "write_export"]

EXPORT_FORMAT: Final = "tongban-msglog-export/1"
_ENTRY_INTS: Final = ("seq", "at_us")
_ENTRY_TEXTS: Final = (
    "direction", "platform", "operation", "record_type", "message_id", "idem_key",
    "message_key_id", "message_sha256", "evidence", "prev_hash", "entry_hash",
)  # fmt: skip
_ENTRY_OPTIONAL_TEXTS: Final = ("case_no", "licence_id", "holder_key_id")
_SEAL_INTS: Final = ("seal_no", "first_seq", "last_seq", "at_us")
_SEAL_TEXTS: Final = ("last_entry_hash", "prev_seal_hash", "kid", "signature", "seal_hash")


class _Malformed(Exception):
    """The export document is not what :func:`write_export` writes (internal; becomes a report)."""


def _entry_doc(entry: Entry) -> dict[str, Any]:
    return {**entry_fields(entry), "prev_hash": entry.prev_hash, "entry_hash": entry.entry_hash}


def _seal_doc(seal: Seal) -> dict[str, Any]:
    return {name: getattr(seal, name) for name in (*_SEAL_INTS, *_SEAL_TEXTS)}


def write_export(
    path: str | Path,
    anchor: Anchor,
    seals: Sequence[Seal],
    entries: Sequence[Entry],
    keys: Mapping[str, VerificationKey],
) -> Path:
    """Write the document atomically (temporary file, fsync, rename); returns the path."""
    kids = sorted({seal.kid for seal in seals})
    document = {
        "format": EXPORT_FORMAT,
        "anchor": {"seq": anchor.seq, "entry_hash": anchor.entry_hash, "seal_no": anchor.seal_no,
                   "seal_hash": anchor.seal_hash},
        "seals": [_seal_doc(s) for s in seals],
        "entries": [_entry_doc(e) for e in entries],
        "jwks": {"keys": [jwk_of(keys[kid]) for kid in kids if kid in keys]},
    }  # fmt: skip
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(canonical_json(document))
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(target)
    return target


def _field(obj: Mapping[str, Any], name: str, kind: type, optional: bool = False) -> Any:
    value = obj.get(name)
    if value is None and optional and name in obj:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def _bytes(obj: Mapping[str, Any], name: str, optional: bool = False) -> bytes | None:
    text = _field(obj, name, str, optional)
    if text is None:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Malformed(f"field {name!r} is not base64") from exc
    if b64_or_none(raw) != text:  # unused trailing bits: two spellings of one value
        raise _Malformed(f"field {name!r} is not canonical base64")
    return raw


def _entry(obj: Any) -> Entry:
    if not isinstance(obj, dict):
        raise _Malformed("an entry is not an object")
    values: dict[str, Any] = {name: _field(obj, name, int) for name in _ENTRY_INTS}
    values.update({name: _field(obj, name, str) for name in _ENTRY_TEXTS})
    values.update({name: _field(obj, name, str, optional=True) for name in _ENTRY_OPTIONAL_TEXTS})
    evidence = values.pop("evidence")
    return Entry(
        **values,
        evidence_json=evidence,
        message_ct=_bytes(obj, "message_ct") or b"",
        holder_ct=_bytes(obj, "holder_ct", optional=True),
    )


def _seal(obj: Any) -> Seal:
    if not isinstance(obj, dict):
        raise _Malformed("a seal is not an object")
    values: dict[str, Any] = {name: _field(obj, name, int) for name in _SEAL_INTS}
    values.update({name: _field(obj, name, str) for name in _SEAL_TEXTS})
    return Seal(**values)


def _read(data: bytes) -> tuple[Anchor, list[Seal], list[Entry], list[Any]]:
    try:
        document = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Malformed("the file is not a JSON document") from exc
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise _Malformed(f"the file is not a {EXPORT_FORMAT} document")
    if canonical_json(document) != data:
        raise _Malformed("the file is not in canonical form (changed after export)")
    anchor_doc = _field(document, "anchor", dict)
    anchor = Anchor(
        seq=_field(anchor_doc, "seq", int),
        entry_hash=_field(anchor_doc, "entry_hash", str),
        seal_no=_field(anchor_doc, "seal_no", int),
        seal_hash=_field(anchor_doc, "seal_hash", str),
    )
    seals = [_seal(s) for s in _field(document, "seals", list)]
    entries = [_entry(e) for e in _field(document, "entries", list)]
    jwks = _field(_field(document, "jwks", dict), "keys", list)
    if not seals:
        raise _Malformed("the file holds no seal")
    return anchor, seals, entries, jwks


def verify_export(path: str | Path, public_keys: Mapping[str, VerificationKey]) -> VerifyReport:
    """Verify an export file with only the trusted seal keys: no database, no decryption key.

    Every entry must be covered by a seal (an unsealed entry in an export is an error). Raises
    :class:`MessageLogError` only when the file cannot be read at all.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MessageLogError("verify_export", f"cannot read the export file ({type(exc).__name__})") from exc
    try:
        anchor, seals, entries, jwks = _read(data)
    except _Malformed as exc:
        return VerifyReport(False, Problem(MALFORMED, 0, str(exc)), 0, 0, None, None, 0)
    for jwk in jwks:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        trusted = public_keys.get(kid) if isinstance(kid, str) else None
        if trusted is None or jwk_of(trusted) != jwk:
            problem = Problem(BAD_SEAL, seals[0].first_seq, "the file's JWKS does not match the trusted keys")
            return VerifyReport(False, problem, len(entries), len(seals), None, None, anchor.seq)
    return verify_chain(entries, seals, anchor, public_keys, require_sealed=True)


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, VerificationKey]:
    """Trusted seal keys (Ed25519, P-256) from a JWKS the operator holds, by kid.

    Raises :class:`MessageLogError` naming the kid of a key it cannot read.
    """
    keys: dict[str, VerificationKey] = {}
    for jwk in document.get("keys", []):
        kid = str(jwk.get("kid", ""))
        try:
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
                public: Any = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
            elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                x = int.from_bytes(b64url_decode(jwk["x"]), "big")
                y = int.from_bytes(b64url_decode(jwk["y"]), "big")
                public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            else:
                raise MessageLogError("keys_from_jwks", f"key {kid!r}: only Ed25519 and P-256 seal keys are supported")
            keys[kid] = VerificationKey.of(kid, public)
        except (KeyError, TypeError, ValueError, SigningError) as exc:
            raise MessageLogError("keys_from_jwks", f"key {kid!r} cannot be read") from exc
    return keys
