"""Verification of a chain of entries and seals: pure code over lists, shared by both backends and exports.

What is checked, from the anchor on, in sequence order:

1. every entry follows the previous one (no gap, no duplicate sequence number);
2. every entry's ``prev_hash`` is the previous entry's hash and its ``entry_hash`` matches its content;
3. every seal follows the previous seal (number, covered range, ``prev_seal_hash``), matches its stored
   hash and carries a signature from a trusted key (else: bad seal), and signs the hash recomputed for
   its last entry (else: the segment's entries were rewritten with new hashes; the entry after the
   segment usually shows where (an insertion, a rewritten last entry), otherwise it is reported as
   altered at the segment's first entry, since which of them changed first cannot be known);
4. entries after the last seal are reported as :data:`~.api.UNSEALED_TAIL` (an error only when
   ``require_sealed``, as for exports).

When a check fails, the kind is diagnosed from what the stored chain fields still say (the rules
below, first match wins), so that an operator reads "entry 412 was removed" rather than "hash
mismatch at 413":

- a gap in the numbers → removed; a number seen again → inserted;
- the link holds but the content does not, and the next entry links to the same predecessor → this
  entry was inserted; otherwise it was altered;
- the link fails and points back past the previous entry → the entries in between were inserted;
- the link points to an entry that comes later → the entries were reordered;
- the entry is intact but links to a hash no entry has → its predecessor was rewritten (altered);
- the entry matches its hash under a nearby other number → later entries were renumbered to hide a
  removal (its original number is higher) or an insertion (lower);
- anything else → altered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from signing.keys import VerificationKey

from .api import (
    ALTERED,
    BAD_SEAL,
    INSERTED,
    REMOVED,
    REORDERED,
    UNSEALED_TAIL,
    Anchor,
    Entry,
    Problem,
    Seal,
    VerifyReport,
)
from .chain import entry_hash
from .sealing import check_seal

__all__ = ["verify_chain"]

#: How far a renumbered entry's original sequence number is searched for (diagnosis only).
_RENUMBER_WINDOW: Final = 16


def verify_chain(
    entries: Sequence[Entry],
    seals: Sequence[Seal],
    anchor: Anchor,
    keys: Mapping[str, VerificationKey],
    *,
    require_sealed: bool = False,
) -> VerifyReport:
    """Verify ``entries`` (in stored order) and ``seals`` (by number) from ``anchor``; first problem wins."""
    later = {e.entry_hash: i for i, e in enumerate(entries)}
    verified: dict[str, int] = {anchor.entry_hash: -1}
    expected, prev = anchor.seq + 1, anchor.entry_hash
    sealed = anchor
    next_seal = 0

    def report(problem: Problem | None, ok: bool = False) -> VerifyReport:
        return VerifyReport(
            ok=ok,
            problem=problem,
            entries=len(entries),
            seals=len(seals),
            first_seq=entries[0].seq if entries else None,
            last_seq=entries[-1].seq if entries else None,
            sealed_through=sealed.seq,
        )

    for i, entry in enumerate(entries):
        problem = _diagnose(entries, i, expected, prev, verified, later)
        if problem is not None:
            return report(problem)
        verified[entry.entry_hash] = i
        expected, prev = entry.seq + 1, entry.entry_hash
        while next_seal < len(seals) and seals[next_seal].last_seq <= entry.seq:
            seal = seals[next_seal]
            fault = check_seal(seal, sealed, prev if seal.last_seq == entry.seq else None, keys)
            if fault is not None and fault[0] == ALTERED and i + 1 < len(entries):
                # The seal signs another hash: the next entry usually tells what happened, and where.
                ahead = _diagnose(entries, i + 1, expected, prev, verified, later)
                if ahead is not None and ahead.seq <= seal.last_seq:
                    return report(ahead)
            if fault is not None:
                return report(Problem(fault[0], seal.first_seq, fault[1], seal.seal_no))
            sealed = Anchor(seal.last_seq, seal.last_entry_hash, seal.seal_no, seal.seal_hash)
            next_seal += 1

    if next_seal < len(seals):
        seal = seals[next_seal]
        if seal.last_seq >= expected:
            return report(Problem(REMOVED, expected, f"entries sealed by seal {seal.seal_no} are missing"))
        fault = check_seal(seal, sealed, None, keys)
        why = fault[1] if fault is not None and fault[0] == BAD_SEAL else f"seal {seal.seal_no} covers no entry"
        return report(Problem(BAD_SEAL, seal.first_seq, why, seal.seal_no))
    if entries and entries[-1].seq > sealed.seq:
        tail = Problem(UNSEALED_TAIL, sealed.seq + 1, f"entries {sealed.seq + 1}..{entries[-1].seq} are not sealed yet")
        return report(tail, ok=not require_sealed)
    return report(None, ok=True)


def _diagnose(
    entries: Sequence[Entry],
    i: int,
    expected: int,
    prev: str,
    verified: Mapping[str, int],
    later: Mapping[str, int],
) -> Problem | None:
    """None when entry ``i`` is sound, else the problem it reveals (rules in the module docstring)."""
    entry = entries[i]
    if entry.seq > expected:
        return Problem(REMOVED, expected, f"entry {expected} is missing")
    if entry.seq < expected:
        return Problem(INSERTED, entry.seq, f"entry {entry.seq} appears again or out of order")
    link_ok = entry.prev_hash == prev
    content_ok = entry_hash(entry) == entry.entry_hash
    if link_ok and content_ok:
        return None
    if link_ok:
        following = entries[i + 1] if i + 1 < len(entries) else None
        if following is not None and following.prev_hash == entry.prev_hash:
            return Problem(INSERTED, entry.seq, f"entry {entry.seq} is not part of the chain around it")
        return Problem(ALTERED, entry.seq, f"entry {entry.seq} does not match its hash")
    back = verified.get(entry.prev_hash)
    if back is not None and back < i - 1:
        first = entries[back + 1].seq
        return Problem(INSERTED, first, f"entries {first}..{entry.seq - 1} are not part of the chain")
    ahead = later.get(entry.prev_hash)
    if ahead is not None and ahead > i:
        return Problem(REORDERED, entry.seq, f"entry {entry.seq} belongs after entry {entries[ahead].seq}")
    if content_ok:
        seq = entries[i - 1].seq if i > 0 else entry.seq
        return Problem(ALTERED, seq, f"entry {seq} was rewritten: entry {entry.seq} no longer chains to it")
    original = _original_seq(entry)
    if original is not None and original > entry.seq:
        return Problem(REMOVED, entry.seq, f"entry {entry.seq} is missing; later entries were renumbered")
    if original is not None:
        return Problem(INSERTED, original, f"entries from {original} are not part of the chain")
    return Problem(ALTERED, entry.seq, f"entry {entry.seq} does not match its hash")


def _original_seq(entry: Entry) -> int | None:
    """The nearby sequence number under which the entry's content matches its hash, if any."""
    for distance in range(1, _RENUMBER_WINDOW + 1):
        for seq in (entry.seq + distance, entry.seq - distance):
            if seq >= 1 and entry_hash(entry, seq) == entry.entry_hash:
                return seq
    return None
