"""The retention job cuts the message log at a seal and the chain still verifies, by the API and by the command.

The cut leaves the log's anchor at the last removed seal (its last entry hash and seal hash), so verification starts
there: what is kept is still guarded (a removal right after the cut is found), and ``gateway log verify``, the
operators' command, passes on the configured log after the job has run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w
from msglog_helpers import T0, Backend, Sample, entries, id_numbers_in
from prometheus_client import CollectorRegistry

from gateway.config import DEFAULT_CONFIG, load_config
from gateway.msglog import REMOVED, UNSEALED_TAIL
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
