"""Seals: one gateway signature over a batch of entries, chained to the previous seal.

The signature is a detached JWS with unencoded payload (``signing.jws``, Ed25519 or ES256) over
the canonical seal payload (:func:`.chain.seal_payload`), so it is checked with the same fail-closed
verifier the gateway uses for partners: an allow-list of algorithms, a kid that must be trusted,
no ``crit`` surprises. Never trust the seal to say which key verifies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from signing.errors import SigningError
from signing.jws import JWS_ALGS, sign_detached, verify_detached
from signing.keys import SigningKey, VerificationKey

from .api import ALTERED, BAD_SEAL, REMOVED, Anchor, Problem, Seal
from .chain import seal_hash, seal_payload

__all__ = ["SEAL_ALGS", "check_cut", "check_seal", "make_seal"]

#: The algorithms a seal may be signed with.
SEAL_ALGS: Final = JWS_ALGS


def make_seal(
    key: SigningKey,
    *,
    seal_no: int,
    first_seq: int,
    last_seq: int,
    last_entry_hash: str,
    prev_seal_hash: str,
    at_us: int,
) -> Seal:
    """Sign a new seal and compute its hash."""
    payload = seal_payload(seal_no, first_seq, last_seq, last_entry_hash, prev_seal_hash, at_us)
    unhashed = Seal(
        seal_no=seal_no,
        first_seq=first_seq,
        last_seq=last_seq,
        last_entry_hash=last_entry_hash,
        prev_seal_hash=prev_seal_hash,
        at_us=at_us,
        kid=key.kid,
        signature=sign_detached(payload, key),
    )
    return replace(unhashed, seal_hash=seal_hash(unhashed))


def check_seal(
    seal: Seal,
    previous: Anchor,
    computed_last_hash: str | None,
    keys: Mapping[str, VerificationKey],
) -> tuple[str, str] | None:
    """``(kind, why)`` when ``seal`` does not hold, or None when it does.

    The kind is :data:`~.api.BAD_SEAL` unless the seal itself is sound and signs a different
    hash than its entries now chain to: then the entries were rewritten (hashes and all) and the
    kind is :data:`~.api.ALTERED`; which entry of the segment changed first cannot be known.

    ``previous`` holds the previous seal's number, last entry seq and hash (or the anchor's);
    ``computed_last_hash`` is the hash the verifier recomputed for ``seal.last_seq`` (None when
    that entry is missing).
    """
    why = _seal_fault(seal, previous, keys)
    if why is not None:
        return BAD_SEAL, why
    if computed_last_hash != seal.last_entry_hash:
        span = f"{seal.first_seq}..{seal.last_seq}"
        return ALTERED, f"entries {span} were rewritten: seal {seal.seal_no} signs another hash"
    return None


def check_cut(
    anchor: Anchor, cut: Seal | None, keys: Mapping[str, VerificationKey], kept_since_us: int | None = None
) -> Problem | None:
    """None when the anchor stands on the seal its cut removed last, else what is wrong (see :mod:`.verify`).

    ``cut`` is that seal as the cut kept it (None: no record of it); a cut by an older build kept no signature and
    is taken as it is. With ``kept_since_us``, a seal made at or after it should not have been removed yet: the
    entries under it went before their retention period ended.
    """
    if anchor.seal_no == 0:
        return None
    if cut is None:
        return Problem(BAD_SEAL, anchor.seq, f"the log starts after seal {anchor.seal_no}, but no cut removed it",
                       anchor.seal_no)  # fmt: skip
    if not cut.signature:
        return None
    same = (cut.seal_no, cut.last_seq, cut.last_entry_hash, cut.seal_hash)
    if same != (anchor.seal_no, anchor.seq, anchor.entry_hash, anchor.seal_hash) or seal_hash(cut) != cut.seal_hash:
        return Problem(BAD_SEAL, anchor.seq, f"the anchor does not match seal {anchor.seal_no} as its cut kept it",
                       anchor.seal_no)  # fmt: skip
    payload = seal_payload(cut.seal_no, cut.first_seq, cut.last_seq, cut.last_entry_hash, cut.prev_seal_hash, cut.at_us)
    try:
        kid = verify_detached(cut.signature, payload, keys, SEAL_ALGS)
    except SigningError as exc:
        return Problem(BAD_SEAL, anchor.seq, f"seal {cut.seal_no} of the cut: signature refused ({exc.reason})",
                       anchor.seal_no)  # fmt: skip
    if kid != cut.kid:
        return Problem(BAD_SEAL, anchor.seq, f"seal {cut.seal_no} of the cut was signed under another kid",
                       anchor.seal_no)  # fmt: skip
    if kept_since_us is not None and cut.at_us >= kept_since_us:
        return Problem(REMOVED, anchor.seq, f"entries {cut.first_seq}..{cut.last_seq} (seal {cut.seal_no}) were removed"
                       " before their retention period ended", anchor.seal_no)  # fmt: skip
    return None


def _seal_fault(seal: Seal, previous: Anchor, keys: Mapping[str, VerificationKey]) -> str | None:
    if seal.seal_no != previous.seal_no + 1:
        return f"seal {seal.seal_no} follows seal {previous.seal_no}"
    if seal.prev_seal_hash != previous.seal_hash:
        return f"seal {seal.seal_no} does not chain to seal {previous.seal_no}"
    if seal.first_seq != previous.seq + 1 or seal.last_seq < seal.first_seq:
        return f"seal {seal.seal_no} covers {seal.first_seq}..{seal.last_seq}, expected to start at {previous.seq + 1}"
    if seal_hash(seal) != seal.seal_hash:
        return f"seal {seal.seal_no} does not match its stored hash"
    payload = seal_payload(
        seal.seal_no, seal.first_seq, seal.last_seq, seal.last_entry_hash, seal.prev_seal_hash, seal.at_us
    )
    try:
        kid = verify_detached(seal.signature, payload, keys, SEAL_ALGS)
    except SigningError as exc:
        return f"seal {seal.seal_no} signature refused ({exc.reason})"
    if kid != seal.kid:
        return f"seal {seal.seal_no} names kid {seal.kid!r} but was signed under another"
    return None
