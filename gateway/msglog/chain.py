"""The exact bytes the hash chain and the seals cover: pure functions, no I/O, no clock.

Rules for editing this file (every stored hash and every exported file depends on them):

- Never change the canonical form of version 1. A new form gets a new ``"v"`` and verification
  must keep reading the old one.
- Canonical JSON is ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)``:
  ASCII only, so no Unicode normalisation or encoding question can make two writers differ.
  Bytes are standard Base64; hashes lower-case hex; times integer microseconds (no floats).
- ``entry_hash = SHA-256(prev_hash (32 raw bytes) || canonical(entry))``. The sequence number is
  inside the canonical entry, so a renumbered entry no longer matches its hash.
- ``seal_hash = SHA-256(canonical(seal payload) || "." || signature)``: the next seal signs it, so
  an altered signature breaks the seal chain as well as the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from .api import Entry, NewEntry, Seal, to_micros
from .atrest import AtRestKeys, aad_for

__all__ = [
    "FORMAT_VERSION",
    "b64_or_none",
    "canonical_entry",
    "canonical_json",
    "entry_fields",
    "entry_hash",
    "evidence_json",
    "new_entry_fields",
    "seal_hash",
    "seal_payload",
    "sealed_entry",
]

FORMAT_VERSION: Final = 1
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
#: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``, the encoder made once: dumps
#: builds a new encoder at every call that passes options, a third of a small entry's canonical form
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON value used for hashing, signing and export files."""
    return _CANONICAL.encode(value).encode("ascii")


def evidence_json(evidence: Mapping[str, str]) -> str:
    """The evidence dict as the canonical text stored (and hashed) with the entry."""
    return canonical_json(dict(evidence)).decode("ascii")


def b64_or_none(data: bytes | None) -> str | None:
    """Standard Base64 of ``data``; None stays None."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def _raw_hash(value: str) -> bytes:
    """32 raw bytes of a hex hash; anything else (a damaged column) hashes as its text and never matches."""
    if _HEX64.fullmatch(value):
        return bytes.fromhex(value)
    return value.encode("utf-8", "backslashreplace")


def entry_fields(entry: Entry, seq: int | None = None) -> dict[str, Any]:
    """The fields an entry's hash covers, as JSON values (ciphertexts in Base64); the export writes the same."""
    return {
        "seq": entry.seq if seq is None else seq,
        "at_us": entry.at_us,
        "direction": entry.direction,
        "platform": entry.platform,
        "operation": entry.operation,
        "record_type": entry.record_type,
        "message_id": entry.message_id,
        "idem_key": entry.idem_key,
        "case_no": entry.case_no,
        "licence_id": entry.licence_id,
        "message_key_id": entry.message_key_id,
        "message_ct": b64_or_none(entry.message_ct),
        "message_sha256": entry.message_sha256,
        "holder_key_id": entry.holder_key_id,
        "holder_ct": b64_or_none(entry.holder_ct),
        "evidence": entry.evidence_json,
    }


def canonical_entry(entry: Entry, seq: int | None = None) -> bytes:
    """The canonical bytes of an entry's fields (``seq`` overrides the stored one, for diagnosis)."""
    return canonical_json({"v": FORMAT_VERSION, **entry_fields(entry, seq)})


def entry_hash(entry: Entry, seq: int | None = None) -> str:
    """``SHA-256(prev_hash || canonical(entry))`` as hex, from the entry's stored ``prev_hash``."""
    return _chained_hash(entry.prev_hash, canonical_entry(entry, seq))


def _chained_hash(prev_hash: str, canonical: bytes) -> str:
    digest = hashlib.sha256(_raw_hash(prev_hash))
    digest.update(canonical)
    return digest.hexdigest()


def new_entry_fields(new: NewEntry, keys: AtRestKeys) -> Entry:
    """Encrypt a new entry's personal data; seq and hashes are filled in by :func:`sealed_entry`.

    Done before taking the chain lock: encryption is the slow part and needs no position.
    """
    message_key_id, message_ct = keys.encrypt(bytes(new.message), aad_for("message", new.message_id))
    holder_key_id: str | None = None
    holder_ct: bytes | None = None
    if new.holder_code is not None:
        holder_key_id, holder_ct = keys.encrypt(new.holder_code.encode("utf-8"), aad_for("holder", new.message_id))
    return Entry(
        seq=0,
        at_us=to_micros(new.at),
        direction=new.direction,
        platform=new.platform,
        operation=new.operation,
        record_type=new.record_type,
        message_id=new.message_id,
        idem_key=new.idem_key,
        case_no=new.case_no,
        licence_id=new.licence_id,
        message_key_id=message_key_id,
        message_ct=message_ct,
        message_sha256=hashlib.sha256(new.message).hexdigest(),
        holder_key_id=holder_key_id,
        holder_ct=holder_ct,
        evidence_json=evidence_json(new.evidence),
    )


def sealed_entry(fields: Entry, seq: int, prev_hash: str) -> Entry:
    """The entry placed at ``seq`` after ``prev_hash``, with its ``entry_hash`` computed.

    The hash is :func:`entry_hash` of the placed entry, computed before the entry is made (the canonical form holds
    ``seq`` and not the hashes), so the entry is built once.
    """
    placed_hash = _chained_hash(prev_hash, canonical_entry(fields, seq))
    return replace(fields, seq=seq, prev_hash=prev_hash, entry_hash=placed_hash)


def seal_payload(
    seal_no: int, first_seq: int, last_seq: int, last_entry_hash: str, prev_seal_hash: str, at_us: int
) -> bytes:
    """The canonical bytes a seal's signature covers."""
    return canonical_json(
        {
            "v": FORMAT_VERSION,
            "seal_no": seal_no,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "last_entry_hash": last_entry_hash,
            "prev_seal_hash": prev_seal_hash,
            "at_us": at_us,
        }
    )


def seal_hash(seal: Seal) -> str:
    """``SHA-256(canonical(payload) || "." || signature)`` as hex."""
    payload = seal_payload(
        seal.seal_no, seal.first_seq, seal.last_seq, seal.last_entry_hash, seal.prev_seal_hash, seal.at_us
    )
    return hashlib.sha256(payload + b"." + seal.signature.encode("utf-8", "backslashreplace")).hexdigest()
