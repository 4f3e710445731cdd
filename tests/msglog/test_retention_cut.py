"""The retention job cuts the message log at a seal and the chain still verifies, by the API and by the command.

The cut leaves the log's anchor at the last removed seal (its last entry hash and seal hash), so verification starts
there: what is kept is still guarded (a removal right after the cut is found), and ``gateway log verify``, the
operators' command, passes on the configured log after the job has run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import tomli_w
from msglog_helpers import T0, Backend, Sample, entries, id_numbers_in
from prometheus_client import CollectorRegistry

from gateway.config import DEFAULT_CONFIG, load_config
from gateway.msglog import BAD_SEAL, REMOVED, UNSEALED_TAIL, MessageLog
from gateway.msglog._rows import SEAL_COLUMNS
from gateway.msglog_cli import open_configured_log
from gateway.retention import DAY, RetentionJob, RetentionMetrics, RetentionSettings
from gateway.store import open_store


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_the_job_cuts_whole_sealed_segments_and_the_chain_verifies(
    backend: Backend, samples: list[Sample], tmp_path: Path
) -> None:
    log = await backend.open()
    for segment in range(3):  # seals at T0 + 1 day, + 2 days, + 3 days, ten entries each
        await log.append_many(entries(samples, 10, start=segment * 10))
        await log.seal(now=T0 + (segment + 1) * DAY)
    await log.append_many(entries(samples, 2, start=30))  # an unsealed tail is never cut
    store = await open_store(f"sqlite://{tmp_path / 'gateway.db'}")
    registry = CollectorRegistry()
    clock = Clock(T0 + 30 * DAY + 2.5 * DAY)  # 30 days kept: seals made before T0 + 2.5 days go
    job = RetentionJob(store, RetentionSettings(message_log_after=30 * DAY), clock, msglog=log,
                       metrics=RetentionMetrics(registry))  # fmt: skip
    try:
        assert (await job.run_once())["message_log"] == 20
        assert (await job.run_once())["message_log"] == 0
    finally:
        await store.close()

    report = await log.verify()
    assert report.ok and (report.first_seq, report.last_seq, report.sealed_through) == (21, 32, 30)
    assert report.problem is not None and report.problem.kind == UNSEALED_TAIL
    assert registry.get_sample_value("tongban_retention_removed_total", {"kind": "message_log"}) == 20
    await backend.sql(("DELETE FROM msglog_entries WHERE seq = 21", ()))  # the first kept entry cannot go quietly
    broken = await log.verify()
    assert broken.problem is not None and (broken.problem.kind, broken.problem.seq) == (REMOVED, 21)


async def test_gateway_log_verify_passes_after_the_cut(samples: list[Sample], tmp_path: Path) -> None:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    data["dev"]["credentials"] = str(tmp_path / "dev")
    data["admin"]["token_file"] = str(tmp_path / "dev" / "admin-token")
    data["message_log"].update(url=f"sqlite:///{tmp_path / 'msglog.db'}", key_file=str(tmp_path / "dev" / "data.key"),
                               seal_key_file=str(tmp_path / "dev" / "seal.pem"))  # fmt: skip
    data["retention"] = {"message_log_after": "30d"}
    path = tmp_path / "gateway.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    config = load_config(path)
    assert config.retention.message_log_after == 30 * DAY

    log = await open_configured_log(config)
    assert log is not None
    store = await open_store(config.store_url)
    try:
        for segment in range(2):
            await log.append_many(entries(samples, 5, start=segment * 5))
            await log.seal(now=T0 + segment * DAY)
        removed = await RetentionJob(store, config.retention, Clock(T0 + 30.5 * DAY), msglog=log).run_once()
        assert removed["message_log"] == 5
    finally:
        await log.close()
        await store.close()
    assert id_numbers_in((tmp_path / "msglog.db").read_bytes()) == set()

    # the operators' commands, as they run them (a real process each)
    def gateway(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "gateway.cli", "--config", str(path), *args],
                              capture_output=True, timeout=120, check=False)  # fmt: skip

    verified = gateway("log", "verify")
    assert verified.returncode == 0, verified.stderr.decode()
    assert json.loads(verified.stdout) == {"ok": True, "entries": 5, "seals": 1, "sealed_through": 10}
    exported = gateway("log", "export", str(tmp_path / "kept.json"))
    assert exported.returncode == 0, exported.stderr.decode()
    offline = gateway("log", "verify-export", str(tmp_path / "kept.json"))
    assert offline.returncode == 0 and json.loads(offline.stdout)["ok"] is True, offline.stdout

    log = await open_configured_log(config)  # now a cut of what the policy keeps (sealed today, kept 30 days)
    assert log is not None
    try:
        await log.append_many(entries(samples, 3, start=10))
        await log.seal(now=time.time())
        await log.append_many(entries(samples, 1, start=13))
        await log.seal(now=time.time())
        assert (await log.purge(before=time.time() + 1)).entries == 9
    finally:
        await log.close()
    early = gateway("log", "verify")
    assert early.returncode == 3, early.stderr.decode()
    assert json.loads(early.stdout)["problem"]["kind"] == REMOVED


async def _four_segments(backend: Backend, samples: list[Sample]) -> MessageLog:
    log = await backend.open()
    for segment in range(4):  # seals 1..4 at T0 + 1..4 days, entries 1..40
        await log.append_many(entries(samples, 10, start=segment * 10))
        await log.seal(now=T0 + (segment + 1) * DAY)
    return log


async def test_a_cut_made_before_its_time_is_found(backend: Backend, samples: list[Sample]) -> None:
    log = await _four_segments(backend, samples)
    assert (await log.purge(before=T0 + 1.5 * DAY)).entries == 10  # seal 1 (made at T0 + 1 day)
    assert (await log.verify(kept_since=T0 + 1.5 * DAY)).ok  # the policy kept what was sealed since T0 + 1.5 days
    early = await log.verify(kept_since=T0 + 0.5 * DAY)  # a policy that kept everything sealed since T0 + 0.5 days
    assert not early.ok and early.problem is not None
    assert (early.problem.kind, early.problem.seq, early.problem.seal_no) == (REMOVED, 10, 1)
    assert "before their retention period ended" in early.problem.detail

    await log.purge(before=T0 + 3.5 * DAY)  # someone cuts seals 2 and 3 as well, through the API
    report = await log.verify(kept_since=T0 + 1.5 * DAY)
    assert report.problem is not None and (report.ok, report.problem.kind, report.problem.seq) == (False, REMOVED, 30)


async def test_an_anchor_moved_by_hand_is_found(backend: Backend, samples: list[Sample]) -> None:
    log = await _four_segments(backend, samples)
    await log.purge(before=T0 + 1.5 * DAY)
    seal = await backend.fetchrow("SELECT * FROM msglog_seals WHERE seal_no = 2")
    # with SQL access: remove seal 2 and its entries, and move the anchor onto seal 2 as a cut would
    await backend.sql(
        ("DELETE FROM msglog_entries WHERE seq <= 20", ()),
        ("DELETE FROM msglog_seals WHERE seal_no = 2", ()),
        ("UPDATE msglog_anchor SET seq = ?, entry_hash = ?, seal_no = 2, seal_hash = ? WHERE id = 1",
         (seal["last_seq"], seal["last_entry_hash"], seal["seal_hash"])),
    )  # fmt: skip
    moved = await log.verify()
    assert moved.problem is not None and (moved.ok, moved.problem.kind, moved.problem.seal_no) == (False, BAD_SEAL, 2)
    assert "no cut removed it" in moved.problem.detail

    values = [seal[c] for c in SEAL_COLUMNS]
    forged = dict(zip(SEAL_COLUMNS, values, strict=True)) | {"at_us": int(T0 * 1_000_000)}  # made to look old
    insert = f"INSERT INTO msglog_cuts ({', '.join(SEAL_COLUMNS)}) VALUES ({', '.join('?' * len(SEAL_COLUMNS))})"
    await backend.sql((insert, tuple(forged[c] for c in SEAL_COLUMNS)))
    assert (await log.verify()).problem.kind == BAD_SEAL  # type: ignore[union-attr]  # its hash no longer matches

    await backend.sql(("DELETE FROM msglog_cuts WHERE seal_no = 2", ()), (insert, tuple(values)))
    assert (await log.verify()).ok  # the real seal 2: the chain holds ...
    late = await log.verify(kept_since=T0 + 1.5 * DAY)  # ... but the policy kept seal 2 (made at T0 + 2 days)
    assert late.problem is not None and (late.ok, late.problem.kind) == (False, REMOVED)


async def test_a_cut_by_an_older_build_has_no_seal_to_check(backend: Backend, samples: list[Sample]) -> None:
    log = await _four_segments(backend, samples)
    await log.purge(before=T0 + 1.5 * DAY)
    await backend.sql(("UPDATE msglog_cuts SET signature = NULL WHERE seal_no = 1", ()))  # as migration 2 records it
    assert (await log.verify(kept_since=T0 + 0.5 * DAY)).ok


async def test_migration_2_records_an_older_builds_cut(backend: Backend, samples: list[Sample]) -> None:
    log = await _four_segments(backend, samples)
    await log.purge(before=T0 + 1.5 * DAY)
    await log.close()
    await backend.sql(  # the log as an older build left it: cut, but without msglog_cuts
        ("DROP TABLE msglog_cuts", ()),
        ("DELETE FROM msglog_schema_migrations WHERE version = 2", ()),
    )
    again = await backend.open()
    assert again.migrated == (2,)  # type: ignore[attr-defined]
    assert (await again.verify(kept_since=T0 + 0.5 * DAY)).ok  # nothing signed to check the old cut against
    row = await backend.fetchrow("SELECT seal_no, signature FROM msglog_cuts")
    assert row == {"seal_no": 1, "signature": None}


async def test_two_instances_cutting_at_once_cut_once(backend: Backend, samples: list[Sample]) -> None:
    log = await _four_segments(backend, samples)
    other = await backend.open()
    store = await open_store(f"sqlite://{backend.path}.store.db" if backend.path else backend.url)
    try:
        jobs = [RetentionJob(store, RetentionSettings(message_log_after=DAY), Clock(T0 + 3.5 * DAY), msglog=one)
                for one in (log, other)]  # fmt: skip
        removed = await asyncio.gather(*(job.run_once() for job in jobs))
    finally:
        await store.close()
    assert sorted(r["message_log"] for r in removed) == [0, 20]
    assert (await other.verify(kept_since=T0 + 2.5 * DAY)).ok
