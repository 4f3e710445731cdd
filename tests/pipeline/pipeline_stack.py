"""Building blocks of the pipeline tests: the simulators of every platform and a gateway between them.

Real servers on 127.0.0.1, real development credentials (generated once per test session), a real SQLite file per
test. The gateway's clock is the real clock (the wire schemes' windows are checked against it).
"""

from __future__ import annotations

import socket
import time
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config import DEFAULT_CONFIG, Config, parse_config
from gateway.links import dev_link_settings
from gateway.server.app import create_app
from gateway.server.keys import STORE, WORKER
from gateway.simulate.run import RunningSimulator, start_simulators, stop_simulators
from gateway.transport import AiohttpTransport
from gateway.wire.base import PlatformClient, WireContext
from gateway.wire.registry import scheme


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def dev_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dev-credentials")
    config = _config(folder, folder / "unused.db", {})
    dev_link_settings(folder, config.registry)  # generate once for the session (RSA keys are slow)
    return folder


def _config(dev: Path, db: Path, base_urls: dict[str, str], port: int = 8080) -> Config:
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{db}"
    data["dev"]["credentials"] = str(dev)
    data["admin"]["token_file"] = str(dev / "admin-token")
    data["server"]["port"] = port
    data["delivery"].update({"base_delay": "200ms", "max_delay": "1s", "short_attempts": 2, "short_wait": "10ms"})
    data["delivery"]["breaker"] = {"cool_down": "300ms"}
    data["delivery"]["worker"] = {"poll_interval": 0.05}
    for pid, url in base_urls.items():
        data["platforms"][pid]["base_url"] = url
    return parse_config(data, "test configuration", dev.parent)


@dataclass
class Stack:
    config: Config
    gateway_url: str
    sims: dict[str, RunningSimulator]
    app: web.Application
    transport: AiohttpTransport

    def partner_client(self, pid: str) -> PlatformClient:
        """The platform ``pid`` calling the gateway, with its own side of the link (as a real partner would)."""
        platform = self.config.registry.platforms[pid]
        wire = scheme(platform.dialect)
        _, sides = dev_link_settings(self.config.dev_credentials, self.config.registry)  # type: ignore[arg-type]
        link = wire.load_link(sides[pid].settings, sides[pid].base)
        ctx = WireContext(platform, link, self.config.registry.adapter(platform.dialect), time.time,
                          f"{self.gateway_url}/partners/{pid}")
        return wire.Client(ctx, self.transport)  # type: ignore[no-any-return]

    @property
    def store(self) -> Any:
        return self.app[STORE]

    @property
    def worker(self) -> Any:
        return self.app[WORKER]


@pytest.fixture
async def stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    port = free_port()
    base = _config(dev_folder, tmp_path / "gateway.db", {}, port)
    transport = AiohttpTransport()
    running = await start_simulators(base, port_base=None, clock=time.time, transport=transport,
                                     gateway_url=f"http://127.0.0.1:{port}",
                                     options={"hefei": {"catalogue_size": 2000}, "huainan": {"catalogue_size": 2000}})
    sims = {r.platform: r for r in running}
    config = _config(dev_folder, tmp_path / "gateway.db", {pid: r.url for pid, r in sims.items()}, port)
    app = create_app(config, transport=transport)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Stack(config, f"http://127.0.0.1:{port}", sims, app, transport)
    finally:
        await runner.cleanup()
        await stop_simulators(running)
        await transport.close()
