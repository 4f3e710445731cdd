"""The part of :class:`~.api.MessageLog` both backends share; a backend supplies five storage primitives.

Why this split: what an entry's bytes are, how a seal is built, how the chain is verified and what a
search may reveal must be identical on SQLite and PostgreSQL, so it lives here once. A backend only
does what needs its driver, each primitive in ONE transaction:

- ``_append_fields(fields)``: lock the head, place the prepared entries after it
  (:func:`._rows.chain_entries`), insert them, move the head;
- ``_seal(build)``: lock the head, call ``build(head)``, store the seal it returns (if any);
- ``_read(first_seal, last_seal)``: a consistent snapshot of anchor, seals and entries;
- ``_search(case_no, licence_id, limit)``: entries by the clear search fields;
- ``_purge(before_us)``: delete whole sealed segments, move the anchor and keep the last removed seal (the cut);
- ``_read_cut(seal_no)``: that kept seal, for :meth:`verify` to check the anchor against.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from signing.keys import SigningKey, VerificationKey

from ._rows import Head, summary
from .api import Anchor, Entry, EntrySummary, ExportSummary, NewEntry, PurgeResult, Seal, VerifyReport, to_micros
from .atrest import AtRestKeys
from .chain import new_entry_fields
from .errors import NothingToExport
from .export import write_export
from .sealing import check_cut, make_seal
from .verify import verify_chain

__all__ = ["BaseMessageLog", "LogSettings"]


@dataclass(frozen=True, slots=True)
class LogSettings:
    """What every backend's log is built with (:func:`gateway.msglog.open_message_log` documents each)."""

    keys: AtRestKeys
    signing_key: SigningKey
    verification_keys: Iterable[VerificationKey] = ()
    #: Seconds a sealed segment is kept (``purge_expired``); None keeps everything.
    retention: float | None = None


class BaseMessageLog(ABC):
    """Shared :class:`~.api.MessageLog` behaviour over a backend's storage primitives."""

    def __init__(self, settings: LogSettings) -> None:
        retention = settings.retention
        if retention is not None and retention <= 0:
            raise ValueError(f"message log retention must be > 0 seconds or None, got {retention!r}")
        self._keys = settings.keys
        self._signing_key = settings.signing_key
        trusted = {key.kid: key for key in settings.verification_keys}
        trusted[settings.signing_key.kid] = settings.signing_key.verification_key()
        self._trusted: Mapping[str, VerificationKey] = trusted
        #: Seconds a sealed segment is kept (``purge_expired``); None keeps everything.
        self.retention = retention

    @property
    def trusted_keys(self) -> Mapping[str, VerificationKey]:
        """The seal keys this log trusts by default (its own signing key and configured older ones)."""
        return self._trusted

    # --- the MessageLog interface ------------------------------------------------------------

    async def append(self, entry: NewEntry) -> Entry:
        return (await self.append_many([entry]))[0]

    async def append_many(self, entries: Sequence[NewEntry]) -> list[Entry]:
        if not entries:
            return []
        return await self._append_fields([new_entry_fields(entry, self._keys) for entry in entries])

    async def seal(self, now: float) -> Seal | None:
        at_us = to_micros(now)
        key = self._signing_key

        def build(head: Head) -> Seal | None:
            if head.last_seq == head.sealed_seq:
                return None
            return make_seal(
                key,
                seal_no=head.seal_no + 1,
                first_seq=head.sealed_seq + 1,
                last_seq=head.last_seq,
                last_entry_hash=head.last_hash,
                prev_seal_hash=head.seal_hash,
                at_us=at_us,
            )

        return await self._seal(build)

    async def verify(
        self, keys: Mapping[str, VerificationKey] | None = None, *, kept_since: float | None = None
    ) -> VerifyReport:
        anchor, seals, entries = await self._read(None, None)
        trusted = self._trusted if keys is None else keys
        report = await asyncio.to_thread(verify_chain, entries, seals, anchor, trusted)
        if report.ok and anchor.seal_no > 0:  # after a cut, the anchor must stand on a real seal, removed in time
            cut = await self._read_cut(anchor.seal_no)
            kept_since_us = None if kept_since is None else to_micros(kept_since)
            problem = check_cut(anchor, cut, trusted, kept_since_us)
            if problem is not None:
                return replace(report, ok=False, problem=problem)
        return report

    async def search(
        self,
        case_no: str | None = None,
        licence_id: str | None = None,
        *,
        keys: AtRestKeys | None = None,
        limit: int = 1000,
    ) -> list[EntrySummary]:
        if limit < 1:
            raise ValueError(f"search limit must be >= 1, got {limit!r}")
        entries = await self._search(case_no, licence_id, limit)
        return [summary(entry, keys) for entry in entries]

    async def export(
        self, path: str | Path, *, first_seal: int | None = None, last_seal: int | None = None
    ) -> ExportSummary:
        anchor, seals, entries = await self._read(first_seal, last_seal)
        if not seals:
            raise NothingToExport("export", f"no sealed segment in seals {first_seal}..{last_seal}")
        covered = [entry for entry in entries if entry.seq <= seals[-1].last_seq]
        written = await asyncio.to_thread(write_export, path, anchor, seals, covered, self._trusted)
        return ExportSummary(
            path=written,
            first_seal=seals[0].seal_no,
            last_seal=seals[-1].seal_no,
            first_seq=seals[0].first_seq,
            last_seq=seals[-1].last_seq,
            entries=len(covered),
        )

    async def purge(self, before: float) -> PurgeResult:
        return await self._purge(to_micros(before))

    async def purge_expired(self, now: float) -> PurgeResult:
        if self.retention is None:
            return await self._purge(None)
        return await self._purge(to_micros(now - self.retention))

    @abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""

    # --- storage primitives (one transaction each) -------------------------------------------

    @abstractmethod
    async def _append_fields(self, fields: list[Entry]) -> list[Entry]: ...

    @abstractmethod
    async def _seal(self, build: Callable[[Head], Seal | None]) -> Seal | None: ...

    @abstractmethod
    async def _read(self, first_seal: int | None, last_seal: int | None) -> tuple[Anchor, list[Seal], list[Entry]]:
        """Everything from the anchor when both are None; else the seals in range and their entries."""

    @abstractmethod
    async def _search(self, case_no: str | None, licence_id: str | None, limit: int) -> list[Entry]: ...

    @abstractmethod
    async def _read_cut(self, seal_no: int) -> Seal | None:
        """The seal a retention cut removed last, if a cut ended at ``seal_no``."""

    @abstractmethod
    async def _purge(self, before_us: int | None) -> PurgeResult:
        """Purge seals made before ``before_us`` (None: purge nothing, report the anchor)."""
