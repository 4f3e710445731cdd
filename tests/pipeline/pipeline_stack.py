"""Building blocks of the pipeline tests: the simulators of every platform and a gateway between them.

Real servers on 127.0.0.1, real development credentials (generated once per test session), a real store per test:
a SQLite file in tmp_path, or a fresh schema of the PostgreSQL at 127.0.0.1:5432 (``store_url`` is parametrised
over both; PostgreSQL is skipped with the reason when no server answers). The gateway's clock is the real clock
(the wire schemes' windows are checked against it).

- ``stack``: the default exchange on either backend.
- ``make_stack(store_url, extra=..., run_workers=...)``: a stack with configuration changes (``[[routes]]``,
  delivery settings); ``Stack.add_gateway()`` starts a second gateway instance on the same store. A test taking
  ``store_url`` lists it BEFORE ``make_stack``, so the stack stops before its PostgreSQL schema is dropped.
- ``write_config(config_dict, path)``: the same configuration as a TOML file, for a gateway subprocess.
"""

from __future__ import annotations

import asyncio
import copy
import socket
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from aiohttp import web
from pg_support import drop_schema

from gateway.config import DEFAULT_CONFIG, Config, parse_config
from gateway.links import dev_link_settings
from gateway.server.app import create_app
from gateway.server.keys import SERVER_TLS, STORE, WORKER
from gateway.simulate.run import RunningSimulator, start_simulators, stop_simulators
from gateway.transport import AiohttpTransport
from gateway.wire.base import PlatformClient
from gateway.wire.registry import load_platform_link, platform_client

REPO = Path(__file__).resolve().parents[2]
SIM_OPTIONS = {"hefei": {"catalogue_size": 2000}, "huainan": {"catalogue_size": 2000}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def held_port() -> tuple[socket.socket, int]:
    """A loopback socket bound now, and its port: the port is ours from here on (``web.SockSite`` serves on it).

    ``free_port`` releases its port at once; a simulator binding port 0 meanwhile could be given the same one.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


@pytest.fixture
def pg_url(pg_dsn: str) -> Iterator[str]:
    """A store URL on a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"p_{uuid.uuid4().hex[:16]}"
    yield f"{pg_dsn}?schema={schema}"
    drop_schema(pg_dsn, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of a stack, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="session")
def dev_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dev-credentials")
    config = _config(folder, f"sqlite:///{folder / 'unused.db'}", {})
    dev_link_settings(folder, config.registry)  # generate once for the session (RSA keys are slow)
    return folder


def config_dict(
    dev: Path, store_url: str, base_urls: dict[str, str], port: int = 8080, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The test configuration as a TOML-shaped dict: fast retries, short cool-down, quick polling."""
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = store_url
    data["dev"]["credentials"] = str(dev)
    data["admin"]["token_file"] = str(dev / "admin-token")
    data["server"]["port"] = port
    data["server"]["tls_port"] = free_port()  # the mutual-TLS listener (g60.md §1) on a port of its own
    data["delivery"].update({"base_delay": "200ms", "max_delay": "1s", "short_attempts": 2, "short_wait": "10ms"})
    data["delivery"]["breaker"] = {"cool_down": "300ms"}
    data["delivery"]["worker"] = {"poll_interval": 0.05}
    extra = copy.deepcopy(extra or {})  # merged into ``data``, which is changed below: never the caller's dicts
    given = {pid: set(entry) for pid, entry in extra.get("platforms", {}).items()}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            _merge(data[key], value)
        else:
            data[key] = value
    for pid, entry in data["platforms"].items():  # after ``extra``: a platform it adds without a URL is simulated
        if "base_url" not in given.get(pid, ()) and pid in base_urls:
            entry["base_url"] = base_urls[pid]
        entry.setdefault("base_url", "http://127.0.0.1:9")  # until its simulator runs (the discard port)
    for entry in data["platforms"].values():
        entry.setdefault("rate_limit", 100_000)  # tests push bursts; test_limits.py holds partners to their rates
    return data


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _config(
    dev: Path, store_url: str, base_urls: dict[str, str], port: int = 8080, extra: dict[str, Any] | None = None
) -> Config:
    return parse_config(config_dict(dev, store_url, base_urls, port, extra), "test configuration", dev.parent)


def write_config(data: dict[str, Any], path: Path) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def partner_client(config: Config, pid: str, gateway_url: str, transport: Any) -> PlatformClient:
    """The platform ``pid`` calling the gateway at ``gateway_url`` with the platform's side of the dev link."""
    platform = config.registry.platforms[pid]
    _, sides = dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    link = load_platform_link(platform, sides[pid].settings, sides[pid].base)
    return platform_client(config.registry, platform, link, transport, time.time, f"{gateway_url}/partners/{pid}")


@dataclass
class Stack:
    config: Config
    gateway_url: str
    sims: dict[str, RunningSimulator]
    app: web.Application
    transport: AiohttpTransport
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def partner_client(self, pid: str, gateway_url: str | None = None) -> PlatformClient:
        """The platform ``pid`` calling the gateway, with its own side of the link (as a real partner would)."""
        return partner_client(self.config, pid, gateway_url or self.gateway_url, self.transport)

    @property
    def store(self) -> Any:
        return self.app[STORE]

    @property
    def worker(self) -> Any:
        return self.app[WORKER]

    def book(self, pid: str) -> Any:
        return self.sims[pid].sim.book

    async def add_gateway(self, *, run_workers: bool = True) -> tuple[web.Application, str]:
        """A second gateway instance (its own worker owner) on the same store and simulators."""
        sock, port = held_port()
        app = await create_app(self.config, transport=self.transport, run_workers=run_workers)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self.closers.insert(0, runner.cleanup)
        return app, f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for close in self.closers:
            await close()
        self.closers.clear()


async def start_stack(
    dev: Path, store_url: str, *, extra: dict[str, Any] | None = None, run_workers: bool = True
) -> Stack:
    sock, port = held_port()
    tls_sock, tls_port = held_port()  # the mutual-TLS listener (g60.md §1)
    extra = _with_tls_port(extra, tls_port)
    base = _config(dev, store_url, {}, port, extra)
    transport = AiohttpTransport()
    running = await start_simulators(
        base,
        port_base=None,
        clock=time.time,
        transport=transport,
        gateway_url=f"http://127.0.0.1:{port}",
        options=SIM_OPTIONS,
    )
    sims = {r.platform: r for r in running}
    config = _config(dev, store_url, {pid: r.url for pid, r in sims.items()}, port, extra)
    app = await create_app(config, transport=transport, run_workers=run_workers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    if app[SERVER_TLS] is not None:
        await web.SockSite(runner, tls_sock, ssl_context=app[SERVER_TLS]).start()
    else:
        tls_sock.close()

    async def stop_sims() -> None:
        await stop_simulators(running)

    return Stack(config, f"http://127.0.0.1:{port}", sims, app, transport, [runner.cleanup, stop_sims, transport.close])


def _with_tls_port(extra: dict[str, Any] | None, tls_port: int) -> dict[str, Any]:
    merged = dict(extra or {})
    merged["server"] = {**merged.get("server", {}), "tls_port": tls_port}
    return merged


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def make_stack(dev_folder: Path) -> AsyncIterator[StackFactory]:
    made: list[Stack] = []

    async def make(store_url: str, **kwargs: Any) -> Stack:
        built = await start_stack(dev_folder, store_url, **kwargs)
        made.append(built)
        return built

    yield make
    for built in made:
        await built.close()


@pytest.fixture
async def stack(dev_folder: Path, store_url: str) -> AsyncIterator[Stack]:
    built = await start_stack(dev_folder, store_url)
    try:
        yield built
    finally:
        await built.close()


def sample(config: Config, samples_dir: Path, dialect: str, record_type: str, name: str) -> Any:
    """A golden sample decoded by its dialect's adapter."""
    body = (samples_dir / dialect / record_type / name).read_bytes()
    return config.registry.adapter(dialect).decode(record_type, body)


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:g}s")
        await asyncio.sleep(0.02)


async def wait_for_async(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout:g}s")
        await asyncio.sleep(0.05)
