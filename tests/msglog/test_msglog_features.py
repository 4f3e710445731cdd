"""Export and offline verification, encryption at rest, search, retention and concurrent appends."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from msglog_helpers import DATA_KEY, DATA_KEY_ID, T0, Backend, Sample, entries, id_numbers_in

from gateway.msglog import (
    AES_GCM,
    ALTERED,
    BAD_SEAL,
    MALFORMED,
    MASK,
    REMOVED,
    UNSEALED_TAIL,
    AtRestKey,
    AtRestKeys,
    DecryptionFailed,
    MessageLog,
    NothingToExport,
    keys_from_jwks,
    open_message_log,
    verify_export,
)
from gateway.store.errors import InvalidStoreURL, StoreUnavailable
from signing.errors import KeyInvalid
from signing.jwks import jwks_document
from signing.keys import SigningKey, VerificationKey

ID_NUMBER = "340121199904278686"  # the agent of samples/anhui/case/SC001.json


def trusted(key: SigningKey) -> dict[str, VerificationKey]:
    return {key.kid: key.verification_key()}


async def sealed_log(backend: Backend, samples: list[Sample], segments: int = 3, per: int = 100) -> MessageLog:
    log = await backend.open()
    for s in range(segments):
        await log.append_many(entries(samples, per, start=s * per, holder=ID_NUMBER))
        await log.seal(now=T0 + (s + 1) * per)
    return log


# --- export ---------------------------------------------------------------------------------


async def test_export_verifies_offline_with_the_public_key_only(
    backend: Backend, samples: list[Sample], tmp_path: Path
) -> None:
    log = await sealed_log(backend, samples)
    await log.append_many(entries(samples, 5, start=300))  # unsealed: never exported
    summary = await log.export(tmp_path / "segment.json", first_seal=2, last_seal=3)
    assert (summary.first_seal, summary.last_seal, summary.first_seq, summary.last_seq) == (2, 3, 101, 300)
    assert summary.entries == 200
    await log.close()
    report = verify_export(summary.path, trusted(backend.signing_key))
    assert report.ok and report.problem is None
    assert (report.entries, report.seals, report.first_seq, report.last_seq) == (200, 2, 101, 300)
    data = summary.path.read_bytes()
    assert ID_NUMBER.encode() not in data
    # The JWKS in the file is the seal key's, and a reader holding only that JWKS can verify.
    document = json.loads(data)
    assert document["jwks"] == jwks_document([backend.signing_key.verification_key()])
    assert verify_export(summary.path, keys_from_jwks(document["jwks"])).ok


async def test_export_of_everything_and_of_nothing(backend: Backend, samples: list[Sample], tmp_path: Path) -> None:
    log = await backend.open()
    with pytest.raises(NothingToExport):
        await log.export(tmp_path / "none.json")
    await log.append_many(entries(samples, 10))
    await log.seal(now=T0 + 10)
    await log.append_many(entries(samples, 10, start=10))
    await log.seal(now=T0 + 20)
    whole = await log.export(tmp_path / "all.json")
    assert (whole.first_seal, whole.last_seal, whole.entries) == (1, 2, 20)
    assert verify_export(whole.path, trusted(backend.signing_key)).ok


async def test_any_changed_byte_of_an_export_fails(backend: Backend, samples: list[Sample], tmp_path: Path) -> None:
    log = await sealed_log(backend, samples, segments=2, per=5)
    summary = await log.export(tmp_path / "segment.json", first_seal=2)
    keys = trusted(backend.signing_key)
    original = summary.path.read_bytes()
    assert verify_export(summary.path, keys).ok
    rng = random.Random(6)
    positions = sorted({*range(0, len(original), max(1, len(original) // 300)), *rng.sample(range(len(original)), 100)})
    kinds = set()
    for position in positions:
        changed = bytearray(original)
        changed[position] ^= 0x01 if rng.random() < 0.5 else 0x20
        summary.path.write_bytes(bytes(changed))
        report = verify_export(summary.path, keys)
        assert not report.ok, f"a change at byte {position} went unnoticed"
        assert report.problem is not None
        kinds.add(report.problem.kind)
    assert MALFORMED in kinds and (kinds & {ALTERED, BAD_SEAL})


async def test_an_export_needs_the_right_key(backend: Backend, samples: list[Sample], tmp_path: Path) -> None:
    log = await sealed_log(backend, samples, segments=1, per=5)
    summary = await log.export(tmp_path / "segment.json")
    stranger = SigningKey.of(backend.signing_key.kid, ed25519.Ed25519PrivateKey.generate())
    for keys in ({}, trusted(stranger)):
        report = verify_export(summary.path, keys)
        assert not report.ok and report.problem is not None and report.problem.kind == BAD_SEAL


async def test_an_unsealed_entry_added_to_an_export_fails(
    backend: Backend, samples: list[Sample], tmp_path: Path
) -> None:
    log = await sealed_log(backend, samples, segments=1, per=5)
    await log.append(entries(samples, 1, start=5)[0])
    summary = await log.export(tmp_path / "segment.json")
    everything = await log.verify()
    assert everything.ok and everything.problem is not None and everything.problem.kind == UNSEALED_TAIL
    from gateway.msglog.chain import canonical_json
    from gateway.msglog.export import _entry_doc

    # An intruder appends the (genuine, correctly chained) unsealed entry to the file.
    _, _, rows = await log._read(None, None)  # type: ignore[attr-defined]
    document = json.loads(summary.path.read_bytes())
    document["entries"].append(_entry_doc(rows[-1]))
    summary.path.write_bytes(canonical_json(document))
    report = verify_export(summary.path, trusted(backend.signing_key))
    assert not report.ok and report.problem is not None
    assert (report.problem.kind, report.problem.seq) == (UNSEALED_TAIL, 6)


# --- personal data at rest and search ------------------------------------------------------


async def test_the_database_holds_no_plaintext_id_number(
    samples: list[Sample], tmp_path: Path, seal_key: SigningKey
) -> None:
    people = set().union(*(id_numbers_in(s.body) for s in samples))
    assert ID_NUMBER in people and len(people) >= 3
    path = tmp_path / "msglog.db"
    log = await open_message_log(f"sqlite://{path}", encryption_key=DATA_KEY, key_id=DATA_KEY_ID, signing_key=seal_key)
    await log.append_many(entries(samples, 200, holder=ID_NUMBER))
    await log.seal(now=T0 + 500)
    assert any(id_numbers_in(s.body) for s in samples)  # the messages did carry them
    for person in people:
        for file in tmp_path.iterdir():  # the database, its WAL and shared memory, while open
            assert person.encode() not in file.read_bytes(), f"an ID number in clear in {file.name}"
    await log.close()
    assert ID_NUMBER.encode() not in path.read_bytes()


async def test_search_is_masked_without_the_key(backend: Backend, samples: list[Sample]) -> None:
    log = await backend.open()
    appended = await log.append_many(entries(samples, 40, holder=ID_NUMBER))
    case_no = next(e.case_no for e in appended if e.case_no)
    licence_id = next(e.licence_id for e in appended if e.licence_id)

    by_case = await log.search(case_no=case_no)
    assert by_case and [s.seq for s in by_case] == sorted(e.seq for e in appended if e.case_no == case_no)
    assert all(s.message is None and s.holder_code is None for s in by_case)

    by_licence = await log.search(licence_id=licence_id)
    assert by_licence and all(s.holder_code == MASK and s.message is None for s in by_licence)
    assert ID_NUMBER not in repr(by_licence)

    keys = AtRestKeys.create(AtRestKey.of(DATA_KEY_ID, DATA_KEY))
    opened = await log.search(licence_id=licence_id, keys=keys, limit=2)
    assert len(opened) == 2
    original = {e.seq: s for e, s in zip(appended, entries(samples, 40, holder=ID_NUMBER), strict=True)}
    for found in opened:
        assert found.holder_code == ID_NUMBER
        assert found.message == original[found.seq].message
        assert found.message_size == len(original[found.seq].message)
        assert ID_NUMBER not in repr(found)
    wrong = AtRestKeys.create(AtRestKey.of(DATA_KEY_ID, bytes(16)))
    with pytest.raises(DecryptionFailed):
        await log.search(licence_id=licence_id, keys=wrong)


async def test_data_keys_rotate_and_old_entries_stay_readable(backend: Backend, samples: list[Sample]) -> None:
    first = await backend.open()
    await first.append_many(entries(samples, 10))
    await first.close()
    new_key = bytes(range(100, 116))
    second = await backend.open(encryption_key=new_key, key_id="k2", older_keys=[AtRestKey.of("k1", DATA_KEY)])
    await second.append_many(entries(samples, 10, start=10))
    assert (await second.verify()).ok  # no data key needed to verify
    both = AtRestKeys.create(AtRestKey.of("k2", new_key), [AtRestKey.of("k1", DATA_KEY)])
    found = await second.search(keys=both)
    assert [s.seq for s in found] == list(range(1, 21)) and all(s.message for s in found)
    with pytest.raises(DecryptionFailed, match="'k1'"):
        await second.search(keys=AtRestKeys.create(AtRestKey.of("k2", new_key)))


async def test_aes_gcm_is_a_configuration_choice(backend: Backend, samples: list[Sample]) -> None:
    aes_key = bytes(range(32))
    log = await backend.open(encryption_key=aes_key, key_id="a1", cipher=AES_GCM)
    await log.append_many(entries(samples, 5, holder=ID_NUMBER))
    found = await log.search(keys=AtRestKeys.create(AtRestKey.of("a1", aes_key, AES_GCM)))
    assert [s.message for s in found] == [e.message for e in entries(samples, 5)]
    with pytest.raises(KeyInvalid):
        AtRestKey.of("s1", aes_key)  # 32 bytes is not an SM4 key


# --- retention ------------------------------------------------------------------------------


async def test_retention_purges_whole_sealed_segments(backend: Backend, samples: list[Sample]) -> None:
    log = await sealed_log(backend, samples, segments=5, per=20)  # seals at T0+20, +40, ... +100
    await log.append_many(entries(samples, 3, start=100))
    nothing = await log.purge(before=T0 + 20)
    assert (nothing.seals, nothing.entries, nothing.anchor.seq) == (0, 0, 0)
    result = await log.purge(before=T0 + 70)  # seals 1..3 are older; seal 4 (at +80) is not
    assert (result.seals, result.entries, result.anchor.seq, result.anchor.seal_no) == (3, 60, 60, 3)
    report = await log.verify()
    assert report.ok and (report.first_seq, report.last_seq, report.sealed_through) == (61, 103, 100)
    assert report.problem is not None and report.problem.kind == UNSEALED_TAIL
    assert [s.seq for s in await log.search(limit=5)] == [61, 62, 63, 64, 65]
    # The chain still guards what is kept: the first kept entry cannot go quietly.
    await backend.sql(("DELETE FROM msglog_entries WHERE seq = 61", ()))
    broken = await log.verify()
    assert broken.problem is not None and (broken.problem.kind, broken.problem.seq) == (REMOVED, 61)


async def test_purge_expired_applies_the_configured_retention(
    backend: Backend, samples: list[Sample], tmp_path: Path
) -> None:
    log = await backend.open(retention=45.0)
    for s in range(3):
        await log.append_many(entries(samples, 10, start=s * 10))
        await log.seal(now=T0 + (s + 1) * 30)  # +30, +60, +90
    result = await log.purge_expired(now=T0 + 110)  # keeps what was sealed after +65
    assert (result.seals, result.entries, result.anchor.seq) == (2, 20, 20)
    assert (await log.verify()).ok
    exported = await log.export(tmp_path / "kept.json")
    assert exported.first_seal == 3 and verify_export(exported.path, trusted(backend.signing_key)).ok
    keep_all = await backend.open()
    assert (await keep_all.purge_expired(now=T0 + 10_000)).seals == 0


async def test_an_altered_anchor_is_found(backend: Backend, samples: list[Sample]) -> None:
    log = await sealed_log(backend, samples, segments=2, per=10)
    await log.purge(before=T0 + 15)
    await backend.sql(("UPDATE msglog_anchor SET entry_hash = ? WHERE id = 1", ("cd" * 32,)))
    report = await log.verify()
    assert not report.ok and report.problem is not None and report.problem.seq == 11


# --- concurrency and lifecycle ---------------------------------------------------------------


async def _append_from_tasks(logs: list[MessageLog], samples: list[Sample], tasks: int, each: int) -> None:
    pool = entries(samples, tasks * each)

    async def worker(t: int) -> None:
        log = logs[t % len(logs)]
        for i in range(each):
            await log.append(pool[t * each + i])

    await asyncio.gather(*(worker(t) for t in range(tasks)))


async def test_a_hundred_concurrent_appenders_make_one_chain(backend: Backend, samples: list[Sample]) -> None:
    log = await backend.open()
    await _append_from_tasks([log], samples, tasks=100, each=10)
    await log.seal(now=T0 + 2000)
    report = await log.verify()
    assert report.ok and report.problem is None
    assert (report.entries, report.first_seq, report.last_seq) == (1000, 1, 1000)
    assert log.commits < 500  # type: ignore[attr-defined]  # appends were batched


async def test_appends_of_one_turn_share_a_job_and_each_caller_gets_its_own_entries(
    tmp_path: Path, seal_key: SigningKey, samples: list[Sample]
) -> None:
    backend = Backend("sqlite", f"sqlite://{tmp_path / 'turn.db'}", seal_key, path=tmp_path / "turn.db")
    log = await backend.open()
    try:
        pool = entries(samples, 30)
        groups = [pool[0:1], pool[1:4], pool[4:5], pool[5:30]]
        placed = await asyncio.gather(*(log.append_many(g) for g in groups))  # all in one turn of the loop
        assert [[e.message_id for e in got] for got in placed] == [[e.message_id for e in g] for g in groups]
        assert [e.seq for got in placed for e in got] == list(range(1, 31))
        assert log._worker.jobs == 1  # type: ignore[attr-defined]  # one append job for the whole turn
        await log.close()
        with pytest.raises(StoreUnavailable):  # a closed log refuses every waiter of the turn
            await asyncio.gather(log.append(pool[0]), log.append(pool[1]))
    finally:
        await log.close()


@pytest.mark.postgres
async def test_two_instances_append_to_one_chain(pg_backend: Backend, samples: list[Sample]) -> None:
    one, two = await pg_backend.open(), await pg_backend.open()  # two pools, as two gateway instances
    await _append_from_tasks([one, two], samples, tasks=100, each=10)
    await one.seal(now=T0 + 1)
    await _append_from_tasks([two, one], samples, tasks=10, each=3)
    await two.seal(now=T0 + 2)
    report = await one.verify()
    assert report.ok and report.problem is None and (report.entries, report.seals) == (1030, 2)
    assert one.commits > 0 and two.commits > 0  # type: ignore[attr-defined]


async def test_reopening_continues_the_chain(backend: Backend, samples: list[Sample]) -> None:
    first = await backend.open()
    await first.append_many(entries(samples, 5))
    await first.seal(now=T0)
    await first.close()
    second = await backend.open()
    more = await second.append_many(entries(samples, 5, start=5))
    assert [e.seq for e in more] == [6, 7, 8, 9, 10]
    seal = await second.seal(now=T0 + 1)
    assert seal is not None and (seal.seal_no, seal.first_seq) == (2, 6)
    assert (await second.verify()).ok


async def test_seal_keys_rotate(backend: Backend, samples: list[Sample]) -> None:
    old_key = backend.signing_key
    first = await backend.open()
    await first.append_many(entries(samples, 5))
    await first.seal(now=T0)
    new_key = SigningKey.of("gw-seal-es256", ec.generate_private_key(ec.SECP256R1()))
    second = await backend.open(signing_key=new_key, verification_keys=[old_key.verification_key()])
    await second.append_many(entries(samples, 5, start=5))
    await second.seal(now=T0 + 1)
    assert (await second.verify()).ok
    forgot = await second.verify(keys={new_key.kid: new_key.verification_key()})
    assert forgot.problem is not None and (forgot.problem.kind, forgot.problem.seal_no) == (BAD_SEAL, 1)


@pytest.mark.parametrize(
    "url",
    ["msglog.db", "ftp://host/x", "sqlite://", "sqlite:///tmp/x.db?colour=red", "sqlite:///tmp/x.db?batch_max=lots"],
)
async def test_unusable_urls_are_refused(url: str, seal_key: SigningKey) -> None:
    with pytest.raises(InvalidStoreURL):
        await open_message_log(url, encryption_key=DATA_KEY, key_id="k1", signing_key=seal_key)


def test_new_entries_refuse_bad_fields_and_hide_personal_data(samples: list[Sample]) -> None:
    entry = entries(samples, 1, holder=ID_NUMBER)[0]
    assert ID_NUMBER not in repr(entry) and "APPLY" not in repr(entry)
    from dataclasses import replace

    with pytest.raises(ValueError, match="direction"):
        replace(entry, direction="sideways")
    with pytest.raises(TypeError, match="evidence"):
        replace(entry, evidence={"x-tif-timestamp": 1750000000})  # type: ignore[dict-item]
