"""A log of 1,000 sealed entries verifies; each kind of tampering done with SQL is found at the right seq.

The intruder here has full SQL access and knows the hashing rules (the tests use the package's own
:func:`sealed_entry` to forge an entry whose own hash is right): the chain and the seals must still
point at the first entry that is not what was appended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from msglog_helpers import Backend, Sample, entries

from gateway.msglog import (
    ALTERED,
    BAD_SEAL,
    INSERTED,
    REMOVED,
    REORDERED,
    UNSEALED_TAIL,
    MessageLog,
)
from gateway.msglog._rows import entry_from_row
from gateway.msglog.atrest import AtRestKey, AtRestKeys
from gateway.msglog.chain import new_entry_fields, sealed_entry

N = 1000
SEAL_EVERY = 100


async def filled(backend: Backend, samples: list[Sample], n: int = N, tail: int = 0) -> MessageLog:
    """A log with ``n`` sealed entries (a seal every 100) and ``tail`` unsealed ones after them."""
    log = await backend.open()
    batch = entries(samples, n + tail)
    for start in range(0, n, SEAL_EVERY):
        await log.append_many(batch[start : start + SEAL_EVERY])
        await log.seal(now=batch[start + SEAL_EVERY - 1].at + 0.5)
    if tail:
        await log.append_many(batch[n:])
    return log


async def test_a_thousand_sealed_entries_verify(backend: Backend, samples: list[Sample]) -> None:
    log = await filled(backend, samples, tail=7)
    report = await log.verify()
    assert report.ok
    assert (report.entries, report.seals, report.first_seq, report.last_seq) == (N + 7, 10, 1, N + 7)
    assert report.sealed_through == N
    assert report.problem is not None and report.problem.kind == UNSEALED_TAIL and report.problem.seq == N + 1
    await log.seal(now=9e9)
    final = await log.verify()
    assert final.ok and final.problem is None and final.sealed_through == N + 7


async def test_seal_with_nothing_new_is_none(backend: Backend, samples: list[Sample]) -> None:
    log = await backend.open()
    assert await log.seal(now=1.0) is None
    await log.append(entries(samples, 1)[0])
    first = await log.seal(now=2.0)
    assert first is not None and (first.seal_no, first.first_seq, first.last_seq) == (1, 1, 1)
    assert await log.seal(now=3.0) is None
    assert (await log.verify()).ok


def _forged(backend: Backend, samples: list[Sample]) -> Callable[[int, str], list[tuple[str, tuple[object, ...]]]]:
    """SQL that inserts an entry nobody appended at ``seq``, chained after ``prev_hash``, hash and all."""
    from gateway.msglog._rows import ENTRY_COLUMNS, entry_values

    keys = AtRestKeys.create(AtRestKey.of("k1", bytes(range(16))))
    fields = new_entry_fields(entries(samples, 1, start=5000)[0], keys)
    columns = ", ".join(ENTRY_COLUMNS)
    marks = ", ".join("?" * len(ENTRY_COLUMNS))

    def statements(seq: int, prev_hash: str) -> list[tuple[str, tuple[object, ...]]]:
        forged = sealed_entry(fields, seq, prev_hash)
        return [(f"INSERT INTO msglog_entries ({columns}) VALUES ({marks})", entry_values(forged))]

    return statements


async def _entry_hash(backend: Backend, seq: int) -> str:
    return str((await backend.fetchrow("SELECT entry_hash FROM msglog_entries WHERE seq = ?", seq))["entry_hash"])


def _shift(from_seq: int, by: int) -> list[tuple[str, tuple[object, ...]]]:
    """Renumber every entry from ``from_seq`` by ``by`` (through negatives: the key is checked per row)."""
    return [
        ("UPDATE msglog_entries SET seq = -(seq + ?) WHERE seq >= ?", (by, from_seq)),
        ("UPDATE msglog_entries SET seq = -seq WHERE seq < 0", ()),
    ]


def _swap(a: int, b: int) -> list[tuple[str, tuple[object, ...]]]:
    return [
        ("UPDATE msglog_entries SET seq = -1 WHERE seq = ?", (a,)),
        ("UPDATE msglog_entries SET seq = ? WHERE seq = ?", (a, b)),
        ("UPDATE msglog_entries SET seq = ? WHERE seq = -1", (b,)),
    ]


Tamper = Callable[[Backend, list[Sample]], Awaitable[list[tuple[str, tuple[object, ...]]]]]


async def alter_bytes(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    row = await b.fetchrow("SELECT message_ct FROM msglog_entries WHERE seq = 500")
    ct = bytearray(row["message_ct"])
    ct[40] ^= 0x01
    return [("UPDATE msglog_entries SET message_ct = ? WHERE seq = 500", (bytes(ct),))]


async def alter_field(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("UPDATE msglog_entries SET platform = 'changsha' WHERE seq = 321", ())]


async def alter_case_no(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("UPDATE msglog_entries SET case_no = '3205002405030569999' WHERE seq = 1000", ())]


async def alter_evidence(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("UPDATE msglog_entries SET evidence = '{}' WHERE seq = 1", ())]


async def _rewrite(b: Backend, seq: int) -> list[tuple[str, tuple[object, ...]]]:
    row = await b.fetchrow("SELECT * FROM msglog_entries WHERE seq = ?", seq)
    original = entry_from_row(row)
    changed = sealed_entry(entry_from_row({**row, "record_type": "evaluation"}), original.seq, original.prev_hash)
    return [("UPDATE msglog_entries SET record_type = ?, entry_hash = ? WHERE seq = ?",
             ("evaluation", changed.entry_hash, seq))]  # fmt: skip


async def rewrite_with_hash(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    """Alter entry 650 and recompute its own hash: the link from 651 still gives it away."""
    return await _rewrite(b, 650)


async def rewrite_last_of_segment(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    """Alter entry 600, the last one seal 6 covers, with its hash: the seal signs another hash."""
    return await _rewrite(b, 600)


async def delete(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("DELETE FROM msglog_entries WHERE seq = 777", ())]


async def delete_and_renumber(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("DELETE FROM msglog_entries WHERE seq = 777", ()), *_shift(778, -1)]


async def insert(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [*_shift(400, 1), *_forged(b, s)(400, await _entry_hash(b, 399))]


async def insert_with_bad_hash(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    forged = _forged(b, s)(400, await _entry_hash(b, 399))
    sql, values = forged[0]
    return [*_shift(400, 1), (sql, (*values[:-1], "ab" * 32))]


async def swap(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return _swap(250, 260)


async def swap_adjacent(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return _swap(250, 251)


async def alter_seal_signature(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    row = await b.fetchrow("SELECT signature FROM msglog_seals WHERE seal_no = 3")
    signature = str(row["signature"])
    flipped = signature[:-3] + ("A" if signature[-3] != "A" else "B") + signature[-2:]
    return [("UPDATE msglog_seals SET signature = ? WHERE seal_no = 3", (flipped,))]


async def delete_seal(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("DELETE FROM msglog_seals WHERE seal_no = 4", ())]


async def rewrite_segment(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    """Rewrite entry 950 and every hash after it to the end: only seal 10 can tell, not which entry."""
    statements: list[tuple[str, tuple[object, ...]]] = []
    prev = await _entry_hash(b, 949)
    for seq in range(950, 1001):
        row = await b.fetchrow("SELECT * FROM msglog_entries WHERE seq = ?", seq)
        changed = entry_from_row({**row, "record_type": "evaluation"} if seq == 950 else row)
        rewritten = sealed_entry(changed, seq, prev)
        prev = rewritten.entry_hash
        statements.append(("UPDATE msglog_entries SET record_type = ?, prev_hash = ?, entry_hash = ? WHERE seq = ?",
                           (rewritten.record_type, rewritten.prev_hash, rewritten.entry_hash, seq)))  # fmt: skip
    return statements


async def delete_sealed_tail(b: Backend, s: list[Sample]) -> list[tuple[str, tuple[object, ...]]]:
    return [("DELETE FROM msglog_entries WHERE seq >= 990", ())]


@pytest.mark.parametrize(
    ("tamper", "kind", "seq"),
    [
        (alter_bytes, ALTERED, 500),
        (alter_field, ALTERED, 321),
        (alter_case_no, ALTERED, 1000),
        (alter_evidence, ALTERED, 1),
        (rewrite_with_hash, ALTERED, 650),
        (rewrite_last_of_segment, ALTERED, 600),
        (delete, REMOVED, 777),
        (delete_and_renumber, REMOVED, 777),
        (insert, INSERTED, 400),
        (insert_with_bad_hash, INSERTED, 400),
        (swap, REORDERED, 250),
        (swap_adjacent, REORDERED, 250),
        (alter_seal_signature, BAD_SEAL, 201),
        (delete_seal, BAD_SEAL, 401),
        (rewrite_segment, ALTERED, 901),
        (delete_sealed_tail, REMOVED, 990),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
async def test_tampering_is_found_at_the_first_bad_entry(
    matrix_backend: Backend, samples: list[Sample], tamper: Tamper, kind: str, seq: int
) -> None:
    backend = matrix_backend
    log = await filled(backend, samples)
    assert (await log.verify()).ok
    await backend.sql(*await tamper(backend, samples))
    report = await log.verify()
    assert not report.ok
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    if kind == BAD_SEAL:
        assert report.problem.seal_no is not None


async def test_appending_after_tampering_keeps_the_report_on_the_first_problem(
    backend: Backend, samples: list[Sample]
) -> None:
    log = await filled(backend, samples, n=200)
    await backend.sql(("DELETE FROM msglog_entries WHERE seq = 50", ()))
    await log.append_many(entries(samples, 20, start=200))
    await log.seal(now=9e9)
    report = await log.verify()
    assert report.problem is not None and (report.problem.kind, report.problem.seq) == (REMOVED, 50)
