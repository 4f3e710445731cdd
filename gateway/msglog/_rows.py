"""Row <-> record conversion shared by both backends (the column order lives here only).

Reading is tolerant on purpose: a column damaged by hand (text where bytes belong, a number
written as text) must reach :func:`~.verify.verify_chain` and be reported as altered, not crash the
verifier with a type error.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .api import MASK, Anchor, ClearFields, Entry, EntrySummary, Seal
from .atrest import AtRestKeys, aad_for, plaintext_size
from .chain import sealed_entry
from .errors import IntegrityError

__all__ = [
    "ENTRY_COLUMNS",
    "SEAL_COLUMNS",
    "Head",
    "anchor_from_row",
    "chain_entries",
    "cut_from_row",
    "entry_from_row",
    "entry_values",
    "head_from_row",
    "seal_from_row",
    "seal_values",
    "summary",
]

ENTRY_COLUMNS: Final = (
    "seq",
    "at_us",
    "direction",
    "platform",
    "operation",
    "record_type",
    "message_id",
    "idem_key",
    "case_no",
    "licence_id",
    "message_key_id",
    "message_ct",
    "message_sha256",
    "holder_key_id",
    "holder_ct",
    "evidence",
    "prev_hash",
    "entry_hash",
)
SEAL_COLUMNS: Final = (
    "seal_no",
    "first_seq",
    "last_seq",
    "last_entry_hash",
    "prev_seal_hash",
    "at_us",
    "kid",
    "signature",
    "seal_hash",
)


@dataclass(frozen=True, slots=True)
class Head:
    """Where the chain continues: the last entry, the last seal and the last sealed entry."""

    last_seq: int
    last_hash: str
    seal_no: int
    seal_hash: str
    sealed_seq: int


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _blob(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace")
    return bytes(value)


def entry_values(entry: Entry) -> tuple[Any, ...]:
    """The row values in :data:`ENTRY_COLUMNS` order."""
    return (
        entry.seq,
        entry.at_us,
        entry.direction,
        entry.platform,
        entry.operation,
        entry.record_type,
        entry.message_id,
        entry.idem_key,
        entry.case_no,
        entry.licence_id,
        entry.message_key_id,
        entry.message_ct,
        entry.message_sha256,
        entry.holder_key_id,
        entry.holder_ct,
        entry.evidence_json,
        entry.prev_hash,
        entry.entry_hash,
    )


def entry_from_row(row: Mapping[str, Any]) -> Entry:
    """An :class:`Entry` from a row holding every column of :data:`ENTRY_COLUMNS`."""
    holder = row["holder_ct"]
    return Entry(
        seq=_int(row["seq"]),
        at_us=_int(row["at_us"]),
        direction=_text(row["direction"]),
        platform=_text(row["platform"]),
        operation=_text(row["operation"]),
        record_type=_text(row["record_type"]),
        message_id=_text(row["message_id"]),
        idem_key=_text(row["idem_key"]),
        case_no=_opt_text(row["case_no"]),
        licence_id=_opt_text(row["licence_id"]),
        message_key_id=_text(row["message_key_id"]),
        message_ct=_blob(row["message_ct"]),
        message_sha256=_text(row["message_sha256"]),
        holder_key_id=_opt_text(row["holder_key_id"]),
        holder_ct=None if holder is None else _blob(holder),
        evidence_json=_text(row["evidence"]),
        prev_hash=_text(row["prev_hash"]),
        entry_hash=_text(row["entry_hash"]),
    )


def seal_values(seal: Seal) -> tuple[Any, ...]:
    """The row values in :data:`SEAL_COLUMNS` order."""
    return (
        seal.seal_no,
        seal.first_seq,
        seal.last_seq,
        seal.last_entry_hash,
        seal.prev_seal_hash,
        seal.at_us,
        seal.kid,
        seal.signature,
        seal.seal_hash,
    )


def seal_from_row(row: Mapping[str, Any]) -> Seal:
    """A :class:`Seal` from a row holding every column of :data:`SEAL_COLUMNS`."""
    return Seal(
        seal_no=_int(row["seal_no"]),
        first_seq=_int(row["first_seq"]),
        last_seq=_int(row["last_seq"]),
        last_entry_hash=_text(row["last_entry_hash"]),
        prev_seal_hash=_text(row["prev_seal_hash"]),
        at_us=_int(row["at_us"]),
        kid=_text(row["kid"]),
        signature=_text(row["signature"]),
        seal_hash=_text(row["seal_hash"]),
    )


def head_from_row(row: Mapping[str, Any]) -> Head:
    """The :class:`Head` from the ``msglog_head`` row."""
    return Head(
        last_seq=int(row["last_seq"]),
        last_hash=str(row["last_hash"]),
        seal_no=int(row["seal_no"]),
        seal_hash=str(row["seal_hash"]),
        sealed_seq=int(row["sealed_seq"]),
    )


def cut_from_row(row: Mapping[str, Any]) -> Seal:
    """The seal a retention cut removed last, from its ``msglog_cuts`` row (no signature: an older build's cut)."""
    return seal_from_row({**row, "signature": row["signature"] or ""})


def anchor_from_row(row: Mapping[str, Any]) -> Anchor:
    """The :class:`Anchor` from the ``msglog_anchor`` row."""
    return Anchor(
        seq=_int(row["seq"]),
        entry_hash=_text(row["entry_hash"]),
        seal_no=_int(row["seal_no"]),
        seal_hash=_text(row["seal_hash"]),
    )


def chain_entries(fields: list[Entry], head: Head) -> list[Entry]:
    """Place prepared entries after ``head``: consecutive seqs, each hashed over the previous hash."""
    placed: list[Entry] = []
    seq, prev = head.last_seq, head.last_hash
    for item in fields:
        seq += 1
        entry = sealed_entry(item, seq, prev)
        placed.append(entry)
        prev = entry.entry_hash
    return placed


def summary(entry: Entry, keys: AtRestKeys | None) -> EntrySummary:
    """An entry for search results: masked without ``keys``, decrypted (and hash-checked) with them."""
    holder: str | None = None if entry.holder_ct is None else MASK
    message: bytes | None = None
    if keys is not None:
        message = keys.decrypt(entry.message_key_id, entry.message_ct, aad_for("message", entry.message_id))
        if hashlib.sha256(message).hexdigest() != entry.message_sha256:
            raise IntegrityError("search", f"entry {entry.seq}: the decrypted message does not match its logged hash")
        if entry.holder_ct is not None and entry.holder_key_id is not None:
            raw = keys.decrypt(entry.holder_key_id, entry.holder_ct, aad_for("holder", entry.message_id))
            holder = raw.decode("utf-8")
    return EntrySummary(
        **{f.name: getattr(entry, f.name) for f in dataclasses.fields(ClearFields)},
        seq=entry.seq,
        at=entry.at,
        message_size=plaintext_size(entry.message_ct),
        entry_hash=entry.entry_hash,
        holder_code=holder,
        message=message,
        evidence=_evidence(entry),
    )


def _evidence(entry: Entry) -> dict[str, str]:
    """The entry's evidence; empty when its text no longer parses (``verify`` reports that entry as altered)."""
    try:
        return entry.evidence
    except (ValueError, AttributeError):
        return {}
