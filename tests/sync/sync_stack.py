"""Building blocks of the sync tests: the hefei and yrd-map simulators on loopback, and the gateway's side.

Real servers on 127.0.0.1 (free ports), development credentials generated once per session, a real SQLite store
per test. The simulators run on one configuration, the gateway on another that differs only in base URLs and, for
refusal tests, in regions it believes hefei serves: an item in such a region passes the gateway's reading of the
Anhui page and is refused by yrd-map, which does not know the region (README §10 ``UNKNOWN_REGION``).

The yrd-map simulator's item batch handler (its documented extension point, ``sim.extras["item_batch"]``) is
wrapped by :class:`BatchLog`, which records every batch the simulator answered and can take the target down after
a number of batches (the fault plan's ``down_until``: connections dropped without an answer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config import DEFAULT_CONFIG, Config, parse_config
from gateway.delivery import RetryPolicy
from gateway.links import dev_link_settings
from gateway.observability.metrics import GatewayMetrics
from gateway.simulate.catalogue import Catalogue, default_regions
from gateway.simulate.run import RunningSimulator, start_simulators, stop_simulators
from gateway.store import Store, open_store
from gateway.sync import SyncReport, SyncSettings, run_sync
from gateway.sync.clients import sync_clients
from gateway.transport import AiohttpTransport
from gateway.wire.base import BatchResult, InboundCall

UNSERVED = "999999"  # a region the gateway is told hefei serves, unknown to yrd-map


def make_config(dev: Path, db: Path, base_urls: dict[str, str], extra_regions: tuple[str, ...] = ()) -> Config:
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{db}"
    data["dev"]["credentials"] = str(dev)
    data["admin"]["token_file"] = str(dev / "admin-token")
    data["delivery"].update({"short_attempts": 3, "short_wait": "5ms"})
    for pid, url in base_urls.items():
        data["platforms"][pid]["base_url"] = url
    if extra_regions:
        data["platforms"]["hefei"]["regions"] = list(extra_regions)
    return parse_config(data, "sync test configuration", dev.parent)


@pytest.fixture(scope="session")
def sync_dev_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sync-dev-credentials")
    dev_link_settings(folder, make_config(folder, folder / "unused.db", {}).registry)  # RSA keys: once
    return folder


@dataclass
class BatchCall:
    message_id: str | None
    keys: list[str]
    accepted: int


@dataclass
class BatchLog:
    """Every item batch yrd-map answered, in order; ``stop_after`` takes the target down after that many."""

    calls: list[BatchCall] = field(default_factory=list)
    stop_after: int | None = None
    on_stop: Callable[[], None] | None = None

    def wrap(self, inner: Callable[[InboundCall], Awaitable[Any]]) -> Callable[[InboundCall], Awaitable[Any]]:
        async def handler(call: InboundCall) -> BatchResult:
            result: BatchResult = await inner(call)
            keys = [f"{r.item_code}:{r.region}" for r in result.results]
            self.calls.append(BatchCall(call.message_id, keys, result.accepted))
            if self.stop_after is not None and len(self.calls) >= self.stop_after and self.on_stop is not None:
                self.on_stop()
            return result

        return handler


@dataclass
class SyncRig:
    dev: Path
    db: Path
    catalogue: Catalogue
    sims: dict[str, RunningSimulator]
    config: Config
    transport: AiohttpTransport
    store: Store
    log: BatchLog
    registry: CollectorRegistry
    metrics: GatewayMetrics

    def received(self) -> list[dict[str, Any]]:
        """The items yrd-map accepted, as reference values, in arrival order."""
        return [r["record"] for r in self.sims["yrd-map"].sim.book.snapshot("item")]

    def faults(self, pid: str, **changes: float) -> None:
        self.sims[pid].plan.update(changes)

    async def sync(self, **options: Any) -> SyncReport:
        settings = SyncSettings(source="hefei", target="yrd-map", **{"retry": self.retry, **options})
        source, target = sync_clients(self.config, "hefei", "yrd-map", self.transport, time.time)
        return await run_sync(
            settings, source=source, target=target, store=self.store, metrics=self.metrics, sleep=_no_wait
        )

    @property
    def retry(self) -> RetryPolicy:
        return dataclasses.replace(self.config.delivery_settings().default, short_attempts=12)


async def _no_wait(seconds: float) -> None:
    """Retries happen at once (the backoff is tested where it lives); the event loop still turns."""
    await asyncio.sleep(0)


async def start_rig(dev: Path, tmp_path: Path, catalogue: Catalogue, extra_regions: tuple[str, ...] = ()) -> SyncRig:
    db = tmp_path / "gateway.db"
    sims_config = make_config(dev, db, {})
    transport = AiohttpTransport()
    running = await start_simulators(
        sims_config,
        ["hefei", "yrd-map"],
        port_base=None,
        clock=time.time,
        transport=transport,
        options={"hefei": {"catalogue": catalogue}},
    )
    sims = {r.platform: r for r in running}
    log = BatchLog()
    yrd = sims["yrd-map"]
    yrd.sim.extras["item_batch"] = log.wrap(yrd.sim.extras["item_batch"])
    config = make_config(dev, db, {pid: r.url for pid, r in sims.items()}, extra_regions)
    store = await open_store(config.store_url)
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry, platforms=config.registry.platforms)
    return SyncRig(dev, db, catalogue, sims, config, transport, store, log, registry, metrics)


async def stop_rig(rig: SyncRig) -> None:
    await rig.store.close()
    await stop_simulators(list(rig.sims.values()))
    await rig.transport.close()


@pytest.fixture
async def rig(sync_dev_folder: Path, tmp_path: Path) -> AsyncIterator[SyncRig]:
    """600 items over the crosswalk's regions (seed 7)."""
    made = await start_rig(sync_dev_folder, tmp_path, Catalogue(seed=7, size=600))
    try:
        yield made
    finally:
        await stop_rig(made)


@pytest.fixture
async def refusing_rig(sync_dev_folder: Path, tmp_path: Path) -> AsyncIterator[SyncRig]:
    """600 items, some in a region yrd-map does not know."""
    regions = (*default_regions()[:5], UNSERVED)
    made = await start_rig(sync_dev_folder, tmp_path, Catalogue(seed=11, size=600, regions=regions), (UNSERVED,))
    try:
        yield made
    finally:
        await stop_rig(made)
