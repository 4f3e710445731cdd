"""The last sync run's outcome outlives the job: saved in the store, exported by the gateway's own /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sync_stack import SyncRig

from gateway.errors import ConfigError
from gateway.server.app import create_app
from gateway.sync.report import SyncReport
from gateway.sync.status import SyncStatus, next_status, status_job, sync_links

PLATFORMS = ("hefei", "yrd-map", "g60")
HEFEI = (("platform", "hefei"),)


def _report(**changes: object) -> SyncReport:
    report = SyncReport("hefei", "yrd-map", "full", None, "run-1")
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


def test_next_status_keeps_the_last_success_through_a_failed_run() -> None:
    empty = SyncStatus("hefei", "yrd-map")
    done = next_status(empty, _report(completed=True, counts={"created": 3, "refused": 0}), 1000.0)
    assert (done.outcome, done.last_success, done.ended_at) == ("ok", 1000.0, 1000.0)
    refused = next_status(done, _report(completed=True, counts={"created": 1, "refused": 2}), 2000.0)
    assert (refused.outcome, refused.last_success) == ("refused", 2000.0)  # it reached the end of the catalogue
    aborted = next_status(refused, _report(completed=False, error="TARGET_UNAVAILABLE"), 3000.0)
    assert (aborted.outcome, aborted.last_success, aborted.ended_at) == ("aborted", 2000.0, 3000.0)
    assert SyncStatus.loads("hefei", "yrd-map", aborted.dumps()) == aborted


def test_an_unreadable_status_is_no_run() -> None:
    assert SyncStatus.loads("hefei", "yrd-map", "{not json") == SyncStatus("hefei", "yrd-map")
    assert SyncStatus.loads("hefei", "yrd-map", '{"ended_at": "x"}') == SyncStatus("hefei", "yrd-map")


@pytest.mark.parametrize(
    ("links", "key"),
    [
        ("hefei>yrd-map", "sync.links"),
        (["hefei"], "sync.links[0]"),
        (["hefei>nowhere"], "sync.links[0]"),
        (["hefei>hefei"], "sync.links[0]"),
    ],
)
def test_sync_links_refused_with_the_key(links: object, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sync_links({"sync": {"links": links}}, "test.toml", PLATFORMS)
    assert caught.value.key == key


def test_sync_links_parsed() -> None:
    assert sync_links({"sync": {"links": ["hefei>yrd-map"]}}, "t", PLATFORMS) == (("hefei", "yrd-map"),)
    assert sync_links({}, "t", PLATFORMS) == ()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _gateway_metrics(rig: SyncRig, wait_for_run: bool = False) -> Samples:
    """Start the gateway (no workers) on the rig's store with ``[sync] links`` and scrape its /metrics once the
    background refresh has run."""
    raw = dict(rig.config.raw)
    raw["sync"] = {"links": ["hefei>yrd-map"]}
    config = dataclasses.replace(rig.config, raw=raw)
    app = await create_app(config, run_workers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        deadline = time.monotonic() + 10
        while True:  # the background refresh reads the store right after start; wait for it when a run is saved
            async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            scraped = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
            }
            if (
                not wait_for_run
                or scraped[("tongban_sync_last_run_timestamp_seconds", HEFEI)]
                or (time.monotonic() > deadline)
            ):
                return scraped
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()


async def test_serve_exports_zero_when_no_sync_ran(rig: SyncRig) -> None:
    scraped = await _gateway_metrics(rig)
    assert scraped[("tongban_sync_last_success_timestamp_seconds", HEFEI)] == 0  # stale: the alert fires
    assert scraped[("tongban_sync_last_run_timestamp_seconds", HEFEI)] == 0


async def test_serve_exports_the_last_run_saved_by_the_sync_job(rig: SyncRig) -> None:
    before = time.time()
    report = await rig.sync(page_size=200, batch_size=100)
    assert report.completed
    saved = SyncStatus.loads("hefei", "yrd-map", await rig.store.get_checkpoint(status_job("hefei", "yrd-map")))
    assert saved.outcome == "ok" and saved.last_success >= before and saved.counts["created"] == 600

    rig.faults("hefei", down_until=time.time() + 3600)  # the next run stops early: the success time stays
    failed = await rig.sync(full=True)
    assert not failed.completed
    rig.faults("hefei", down_until=0)

    scraped = await _gateway_metrics(rig, wait_for_run=True)
    assert scraped[("tongban_sync_last_success_timestamp_seconds", HEFEI)] == saved.last_success
    assert scraped[("tongban_sync_last_run_timestamp_seconds", HEFEI)] > saved.ended_at
    assert scraped[("tongban_sync_last_run_success", HEFEI)] == 0
    assert datetime.fromtimestamp(scraped[("tongban_sync_last_success_timestamp_seconds", HEFEI)]).year >= 2025
