"""What the gateway asks of its tamper-evident message log, and the frozen records that cross that line.

Why a log beside the store (issue 6; the role X-Road's message log plays): the outbox forgets a
message once delivered, but an exchange between two administrations must stay provable. Every
message the gateway receives or sends (cases, status events, evaluations, licence queries and
answers, item batches) is appended here with its signature evidence, and nobody (an operator with
SQL access included) can quietly alter, insert, remove or reorder the record afterwards without
:meth:`MessageLog.verify` pointing at the first place the chain breaks.

The chain (see :mod:`.chain` for the exact bytes)::

    entry_hash(n) = SHA-256( entry_hash(n-1) || canonical(entry n) )      entry_hash(0) = 32 zero bytes
    seal k signs (seal_no, first_seq, last_seq, entry_hash(last_seq), seal_hash(k-1), time)
    seal_hash(k) = SHA-256( canonical(seal k payload) || "." || JWS of seal k )

A seal is one gateway signature over every entry since the previous seal (X-Road batches its
time-stamps the same way), so sealing costs one signature per batch, not per message.

Personal data at rest: the message bytes and the holder code are encrypted (SM4-GCM or AES-GCM,
:mod:`.atrest`) with the key id stored beside each ciphertext. Case numbers and licence ids are
identifiers of files, not of people, and stay in the clear so that an operator can search without
a key. The chain covers the ciphertexts AND the SHA-256 of the plaintext message, so verification
needs no key, tampering with either is detected, and anyone holding the plaintext (a partner's copy
of a message) can prove it is the one logged. The holder code gets no plaintext hash: an ID number
has so little entropy that its hash would be as good as the number itself.

Time is always passed in by the caller (Unix seconds), never read from a clock here; it is stored
as integer microseconds so that it hashes the same way in every backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from signing.keys import VerificationKey

from .atrest import AtRestKeys

__all__ = [
    "ALTERED",
    "BAD_SEAL",
    "DIRECTIONS",
    "GENESIS",
    "GENESIS_HASH",
    "INSERTED",
    "MALFORMED",
    "MASK",
    "REMOVED",
    "REORDERED",
    "UNSEALED_TAIL",
    "Anchor",
    "ClearFields",
    "Entry",
    "EntrySummary",
    "ExportSummary",
    "MessageLog",
    "NewEntry",
    "Problem",
    "PurgeResult",
    "Seal",
    "VerifyReport",
    "to_micros",
]

#: The hash before the first entry and before the first seal.
GENESIS_HASH: Final = "0" * 64
#: What :meth:`MessageLog.search` shows for a personal value when no decryption key is given.
MASK: Final = "****"
DIRECTIONS: Final = frozenset({"in", "out"})

# --- problem kinds (VerifyReport.problem.kind) ------------------------------------------------
#: An entry's content no longer matches its hash (or the hash it was chained with).
ALTERED: Final = "altered"
#: An entry that was never appended sits in the chain.
INSERTED: Final = "inserted"
#: An appended entry is missing (a gap, or later entries renumbered to hide one).
REMOVED: Final = "removed"
#: Entries are all present but not in the order they were appended.
REORDERED: Final = "reordered"
#: A seal does not verify, does not chain to the previous one, or does not match its entries.
BAD_SEAL: Final = "bad seal"
#: Entries after the last seal: not an error in a live log (the next ``seal`` covers them), an error in an export.
UNSEALED_TAIL: Final = "unsealed tail"
#: An export file that is not exactly the document :meth:`MessageLog.export` writes.
MALFORMED: Final = "malformed"


def to_micros(seconds: float) -> int:
    """Unix seconds (the gateway's time type) to the integer microseconds the log stores and hashes."""
    return round(seconds * 1_000_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearFields:
    """What the log keeps in the clear about a message, alike on a new entry, a stored one and a search result: which
    way it went, to or from which platform, what it was, and the case or licence it is about (searched by, never
    personal). Keyword-only: the records of the log are always built by name."""

    direction: str
    platform: str
    operation: str
    record_type: str
    message_id: str
    idem_key: str
    case_no: str | None = None
    licence_id: str | None = None


@dataclass(frozen=True, slots=True)
class NewEntry(ClearFields):
    """One message as the pipeline hands it to :meth:`MessageLog.append`.

    ``message`` is the exact bytes received or sent; ``evidence`` the signature material as it
    travelled (header values, signature values, certificate serials: e.g. ``{"x-ah-jws": "..."}``).
    Evidence is stored in the clear and must hold no personal data. ``holder_code`` is the licence
    holder's code (personal data: encrypted, never hashed in the clear); ``case_no`` and
    ``licence_id`` are stored in the clear for search.
    """

    at: float
    message: bytes = field(repr=False)
    evidence: Mapping[str, str] = field(default_factory=dict, repr=False)
    holder_code: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"NewEntry.direction must be 'in' or 'out', got {self.direction!r}")
        for name in ("platform", "operation", "record_type", "message_id", "idem_key"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"NewEntry.{name} must be a str")
        if not isinstance(self.message, bytes | bytearray):
            raise TypeError("NewEntry.message must be bytes")
        for key, value in self.evidence.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"NewEntry.evidence must map str to str; the entry {key!r} does not")


@dataclass(frozen=True, slots=True)
class Entry(ClearFields):
    """One entry as stored: the encrypted message, the clear search fields and the chain fields.

    ``evidence_json`` is the canonical JSON text of the evidence (hashed as text, so a damaged
    value is reported as altered instead of failing to parse); read it through :attr:`evidence`.
    """

    seq: int
    at_us: int
    message_key_id: str
    message_ct: bytes = field(repr=False)
    message_sha256: str = field(repr=False)
    holder_key_id: str | None = None
    holder_ct: bytes | None = field(default=None, repr=False)
    evidence_json: str = field(default="{}", repr=False)
    prev_hash: str = GENESIS_HASH
    entry_hash: str = GENESIS_HASH

    @property
    def at(self) -> float:
        """The entry's time in Unix seconds."""
        return self.at_us / 1_000_000

    @property
    def evidence(self) -> dict[str, str]:
        """The signature evidence as a dict (parsed from :attr:`evidence_json`)."""
        value = json.loads(self.evidence_json)
        return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class EntrySummary(ClearFields):
    """What :meth:`MessageLog.search` returns: the clear fields, and the personal ones masked or decrypted.

    Without a decryption key ``holder_code`` is :data:`MASK` (when the entry has one) and
    ``message`` is None; ``message_size`` is the plaintext length either way.
    """

    seq: int
    at: float
    message_size: int
    entry_hash: str
    holder_code: str | None = field(default=None, repr=False)
    message: bytes | None = field(default=None, repr=False)
    #: the signature evidence as it travelled (clear, no personal data: see :class:`NewEntry`)
    evidence: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Seal:
    """One gateway signature over the entries ``first_seq..last_seq`` (see the module docstring)."""

    seal_no: int
    first_seq: int
    last_seq: int
    last_entry_hash: str
    prev_seal_hash: str
    at_us: int
    kid: str
    signature: str = field(repr=False)
    seal_hash: str = GENESIS_HASH

    @property
    def at(self) -> float:
        """The seal's time in Unix seconds."""
        return self.at_us / 1_000_000


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where verification starts: the last entry and seal removed by retention (or the genesis)."""

    seq: int
    entry_hash: str
    seal_no: int
    seal_hash: str


#: The anchor of a log from which nothing was ever purged.
GENESIS: Final = Anchor(0, GENESIS_HASH, 0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing wrong (or, for :data:`UNSEALED_TAIL` in a live log, worth knowing).

    ``seq`` is the entry where it starts (for a bad seal, the seal's first entry); ``seal_no`` is
    set for seal problems. ``detail`` never quotes message contents.
    """

    kind: str
    seq: int
    detail: str
    seal_no: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a verification: ``ok`` is False exactly when ``problem`` is an error."""

    ok: bool
    problem: Problem | None
    entries: int
    seals: int
    first_seq: int | None
    last_seq: int | None
    sealed_through: int


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What :meth:`MessageLog.export` wrote."""

    path: Path
    first_seal: int
    last_seal: int
    first_seq: int
    last_seq: int
    entries: int


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What :meth:`MessageLog.purge` removed, and the anchor the chain now starts from."""

    seals: int
    entries: int
    anchor: Anchor


@runtime_checkable
class MessageLog(Protocol):
    """The message log. Storage failures raise :class:`~gateway.store.errors.StoreError` subclasses."""

    async def append(self, entry: NewEntry) -> Entry:
        """Encrypt, chain and durably store one entry; returns it with its seq and hashes.

        Concurrent appends are batched (one transaction for many) and still form one chain.
        """
        ...

    async def append_many(self, entries: Sequence[NewEntry]) -> list[Entry]:
        """Append several entries in order, in one transaction."""
        ...

    async def seal(self, now: float) -> Seal | None:
        """Sign every entry since the previous seal; None when there is nothing new to seal."""
        ...

    async def verify(
        self, keys: Mapping[str, VerificationKey] | None = None, *, kept_since: float | None = None
    ) -> VerifyReport:
        """Check the whole chain and every seal from the anchor; reports the first problem.

        ``keys`` are the trusted seal keys by kid; by default the gateway's own current and
        configured previous keys. After a retention cut the anchor is checked against the seal the cut
        removed last (kept with its signature); with ``kept_since`` (Unix seconds: now minus the retention
        period), a cut of a seal made since then is reported as :data:`REMOVED`.
        """
        ...

    async def search(
        self,
        case_no: str | None = None,
        licence_id: str | None = None,
        *,
        keys: AtRestKeys | None = None,
        limit: int = 1000,
    ) -> list[EntrySummary]:
        """Entries for a case number and/or licence id, oldest first; decrypted only with ``keys``."""
        ...

    async def export(
        self, path: str | Path, *, first_seal: int | None = None, last_seal: int | None = None
    ) -> ExportSummary:
        """Write the sealed segment ``first_seal..last_seal`` (default: every seal kept) to ``path``.

        The file is self-contained: :func:`~gateway.msglog.export.verify_export` checks it with
        the public key alone.
        """
        ...

    async def purge(self, before: float) -> PurgeResult:
        """Remove whole sealed segments sealed before ``before``; the anchor moves to the last one removed."""
        ...

    async def purge_expired(self, now: float) -> PurgeResult:
        """:meth:`purge` with the configured retention (``now - retention``); nothing when none is set."""
        ...

    async def close(self) -> None:
        """Finish pending appends and release the connection(s)."""
        ...
