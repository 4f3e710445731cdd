"""The catalogue sync against the hefei and yrd-map simulators: full, incremental, dry run, report and metrics."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sync_stack import SyncRig, start_rig, stop_rig

from gateway.model.records import to_ref
from gateway.simulate.catalogue import Catalogue
from gateway.sync.state import Checkpoint, content_hash, item_key, job_name, link_name


def _ref(item: Any) -> dict[str, Any]:
    values = to_ref(item)
    values["updated_at"] = values["updated_at"].isoformat()
    values["materials"] = [dict(m) for m in values["materials"]]
    return values


def _source(rig: SyncRig) -> dict[str, dict[str, Any]]:
    return {item_key(item): _ref(item) for item in (rig.catalogue.item(i) for i in range(rig.catalogue.size))}


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [f"{r['item_code']}:{r['region']}" for r in records]


async def test_full_sync_delivers_every_item_once_equal_to_the_source(rig: SyncRig) -> None:
    report = await rig.sync(page_size=150, batch_size=50)

    received = rig.received()
    assert Counter(_keys(received)).most_common(1)[0][1] == 1  # each item once
    assert {f"{r['item_code']}:{r['region']}": r for r in received} == _source(rig)
    assert report.completed and report.error is None and report.exit_status == 0
    assert report.counts == {"created": 600, "updated": 0, "deleted": 0, "unchanged": 0, "refused": 0}
    assert report.batches == len(rig.log.calls) == 12  # 600 items in batches of 50, whatever the pages
    assert {len(c.keys) for c in rig.log.calls} == {50}
    assert report.pages >= 5
    saved = Checkpoint.loads(await rig.store.get_checkpoint(job_name("hefei", "yrd-map")) or "")
    assert saved.done and saved.since is None and saved.mode == "full"
    last = rig.catalogue.item(rig.catalogue.size - 1)
    assert saved.position is not None
    assert (saved.position.time, saved.position.code) == (last.updated_at, last.item_code)
    hashes = await rig.store.get_item_hashes(link_name("hefei", "yrd-map"), [item_key(last)])
    assert hashes == {item_key(last): content_hash(last)}


async def test_a_second_run_without_changes_sends_nothing(rig: SyncRig) -> None:
    await rig.sync()
    calls = len(rig.log.calls)
    report = await rig.sync()
    assert len(rig.log.calls) == calls and report.sent == 0
    assert report.mode == "incremental" and report.completed and report.exit_status == 0

    again = await rig.sync(full=True, page_size=250)  # re-reads everything, still sends nothing unchanged
    assert len(rig.log.calls) == calls
    assert again.counts["unchanged"] == 600 and again.sent == 0 and again.pages >= 3


async def test_incremental_sends_only_changes_and_deletions_as_delete(rig: SyncRig) -> None:
    await rig.sync()
    before = len(rig.received())
    touched = rig.catalogue.mutate(0.05, seed=1, now=time.time())
    current = [rig.catalogue.item(i) for i in touched]
    deleted = {item_key(i) for i in current if i.operation == "DELETE"}
    updated = {item_key(i) for i in current if i.operation == "UPDATE"}
    assert deleted and updated

    report = await rig.sync()

    sent = rig.received()[before:]
    assert sorted(_keys(sent)) == sorted(deleted | updated)
    assert {f"{r['item_code']}:{r['region']}" for r in sent if r["operation"] == "DELETE"} == deleted
    by_key = {f"{r['item_code']}:{r['region']}": r for r in sent}
    assert all(by_key[item_key(i)] == _ref(i) for i in current)  # the new content, the deletion with its last one
    assert report.counts["updated"] == len(updated) and report.counts["deleted"] == len(deleted)
    assert report.counts["created"] == 0 and report.pages <= 3
    assert report.mode == "incremental"


async def test_dry_run_sends_and_remembers_nothing(rig: SyncRig) -> None:
    report = await rig.sync(dry_run=True, page_size=1000)
    assert report.dry_run and report.completed
    assert report.counts["created"] == 600 and report.batches == 0
    assert rig.log.calls == [] and rig.received() == []
    assert await rig.store.get_checkpoint(job_name("hefei", "yrd-map")) is None
    assert await rig.store.get_item_hashes(link_name("hefei", "yrd-map"), _source(rig)) == {}
    assert "would be sent" in report.to_table()

    await rig.sync()
    rig.catalogue.mutate(0.03, seed=2, now=time.time())
    preview = await rig.sync(dry_run=True)
    real = await rig.sync()
    assert preview.counts == real.counts and preview.sent == real.sent > 0


async def test_metrics_count_items_batches_and_success(rig: SyncRig) -> None:
    await rig.sync(batch_size=500)
    value = rig.registry.get_sample_value
    assert value("tongban_sync_items_total", {"platform": "hefei", "outcome": "created"}) == 600
    assert value("tongban_sync_batches_total", {"platform": "hefei"}) == 2
    assert value("tongban_sync_progress_ratio", {"platform": "hefei"}) == 1.0
    assert (value("tongban_sync_last_success_timestamp_seconds", {"platform": "hefei"}) or 0) > time.time() - 60


@pytest.mark.slow
async def test_full_and_incremental_sync_of_5000_items(sync_dev_folder: Path, tmp_path: Path) -> None:
    made = await start_rig(sync_dev_folder, tmp_path, Catalogue(seed=5, size=5000))
    try:
        report = await made.sync()
        received = made.received()
        assert len(received) == 5000 and {f"{r['item_code']}:{r['region']}": r for r in received} == _source(made)
        assert report.batches == 10 and report.counts["created"] == 5000
        made.catalogue.mutate(0.01, seed=9, now=time.time())
        again = await made.sync()
        assert again.sent == 50 and again.batches == 1 and len(made.received()) == 5050
    finally:
        await stop_rig(made)
