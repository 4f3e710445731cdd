"""Kill and resume, target and source faults, refused items, the CLI's report and exit status."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import pytest
from sync_stack import UNSERVED, SyncRig

from gateway.sync.cli import add_sync_arguments, run_sync_command
from gateway.sync.state import Checkpoint, Position, job_name

JOB = job_name("hefei", "yrd-map")


def _positions(rig: SyncRig) -> dict[str, tuple[object, str]]:
    items = (rig.catalogue.item(i) for i in range(rig.catalogue.size))
    return {f"{i.item_code}:{i.region}": (i.updated_at, i.item_code) for i in items}


def _confirmed(position: Position, where: tuple[object, str]) -> bool:
    return where <= (position.time, position.code)  # type: ignore[operator]


@pytest.mark.slow
async def test_a_cancelled_sync_resumes_and_never_resends_a_confirmed_batch(rig: SyncRig) -> None:
    reached = asyncio.Event()
    rig.log.stop_after, rig.log.on_stop = 4, reached.set
    task = asyncio.create_task(rig.sync(batch_size=25, concurrency=3))
    await asyncio.wait_for(reached.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = Checkpoint.loads(await rig.store.get_checkpoint(JOB) or "")
    assert not saved.done and saved.position is not None
    first_calls = len(rig.log.calls)
    assert first_calls < 24  # it was stopped early (600 items are 24 batches)

    rig.log.stop_after = None
    report = await rig.sync(batch_size=25, concurrency=3)

    assert report.resumed and report.completed and report.run == saved.run
    where = _positions(rig)
    resent = [k for call in rig.log.calls[first_calls:] for k in call.keys if _confirmed(saved.position, where[k])]
    assert resent == []  # nothing at or before the checkpoint went out again
    received = [f"{r['item_code']}:{r['region']}" for r in rig.received()]
    assert set(received) == set(where)
    assert len(received) - len(set(received)) <= 3 * 25  # at most the batches in flight when it was killed


@pytest.mark.slow
async def test_a_target_that_goes_down_stops_the_run_and_the_same_command_resumes(rig: SyncRig) -> None:
    rig.log.stop_after = 3
    rig.log.on_stop = lambda: rig.faults("yrd-map", down_until=time.time() + 3600)
    stopped = await rig.sync(batch_size=50, concurrency=2)
    assert stopped.error is not None and stopped.error.startswith("TARGET_UNAVAILABLE")
    assert stopped.exit_status == 3 and not stopped.completed
    saved = Checkpoint.loads(await rig.store.get_checkpoint(JOB) or "")
    assert saved.position is not None and not saved.done

    rig.log.stop_after = None
    rig.faults("yrd-map", down_until=0)
    resumed = await rig.sync(batch_size=50, concurrency=2)
    assert resumed.resumed and resumed.completed and resumed.exit_status == 0
    where = _positions(rig)
    assert not [k for call in rig.log.calls[3:] for k in call.keys if _confirmed(saved.position, where[k])]
    assert {f"{r['item_code']}:{r['region']}" for r in rig.received()} == set(where)


async def test_faults_at_both_ends_are_retried_and_every_item_arrives_once(rig: SyncRig) -> None:
    rig.faults("yrd-map", error_rate=0.2, throttle_rate=0.15, retry_after=0, drop_rate=0.15, seed=3)
    rig.faults("hefei", error_rate=0.2, drop_rate=0.1, seed=4)
    report = await rig.sync(page_size=150, batch_size=50)
    assert report.completed and report.exit_status == 0
    received = [f"{r['item_code']}:{r['region']}" for r in rig.received()]
    assert sorted(received) == sorted(_positions(rig))  # once each: a retried batch keeps its MessageId
    retries = rig.registry.get_sample_value
    assert (
        sum(
            retries("tongban_delivery_retries_total", {"destination": "yrd-map", "kind": kind}) or 0
            for kind in ("server_error", "throttled", "connection")
        )
        > 0
    )


async def test_refused_items_are_reported_and_the_run_goes_on(refusing_rig: SyncRig) -> None:
    rig = refusing_rig
    unserved = {
        f"{i.item_code}:{i.region}" for i in map(rig.catalogue.item, range(rig.catalogue.size)) if i.region == UNSERVED
    }
    assert unserved
    report = await rig.sync(batch_size=100)

    assert report.completed and report.exit_status == 2
    assert report.counts["refused"] == len(unserved)
    assert report.counts["created"] == rig.catalogue.size - len(unserved)
    assert {f"{r.item_code}:{r.region}" for r in report.refusals} == unserved
    assert {(r.code, r.where) for r in report.refusals} == {("UNKNOWN_REGION", "Item/Region")}
    assert {r["region"] for r in rig.received()}.isdisjoint({UNSERVED})
    table = report.to_table()
    assert "UNKNOWN_REGION" in table and "refused" in table

    again = await rig.sync(full=True)  # refused items have no stored hash: a full run offers them again
    assert again.counts["refused"] == len(unserved) and again.counts["unchanged"] == report.counts["created"]


async def test_cli_prints_the_json_report_and_exits_with_the_refusal_status(
    refusing_rig: SyncRig, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_sync_arguments(parser)
    args = parser.parse_args(
        [
            "--from",
            "hefei",
            "--to",
            "yrd-map",
            "--json",
            "--progress",
            "json",
            "--progress-interval",
            "0",
            "--batch-size",
            "100",
        ]
    )
    status = await asyncio.to_thread(run_sync_command, refusing_rig.config, args)
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert status == 2 == report["exit_status"]
    assert report["counts"]["refused"] == len(report["refusals"]) > 0
    assert report["refusals"][0]["code"] == "UNKNOWN_REGION" and report["mode"] == "full"
    progress = [json.loads(line) for line in err.splitlines()]
    assert progress[-1]["final"] and progress[-1]["ratio"] == 1.0
    assert all(p["event"] == "sync_progress" for p in progress) and len(progress) >= 4


async def test_cli_dry_run_table_and_a_bad_option(
    rig: SyncRig, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    parser = argparse.ArgumentParser()
    add_sync_arguments(parser)
    args = parser.parse_args(
        ["--from", "hefei", "--to", "yrd-map", "--dry-run", "--progress", "lines", "--since", "2024-06-01 00:00:00"]
    )
    assert await asyncio.to_thread(run_sync_command, rig.config, args) == 0
    out, err = capsys.readouterr()
    assert "would be sent" in out and "since run, items from 2024-06-01 00:00:00+08:00" in out
    assert err.strip().splitlines()[-1].endswith("done")
    assert rig.log.calls == []

    wrong = parser.parse_args(["--from", "hefei", "--to", "nowhere"])
    assert await asyncio.to_thread(run_sync_command, rig.config, wrong) == 1
    assert "'nowhere' is not a configured platform" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--from", "hefei", "--to", "yrd-map", "--batch-size", "501"])
