"""Running simulators: one aiohttp server per platform on loopback, with development credentials.

``gateway simulate [PLATFORM ...] [--port-base N]`` starts them in the registry's order at ports N, N+1, ...; without
``--port-base``, each where its platform's loopback ``base_url`` in the configuration says (9101... in the default).
Each simulator calls the gateway back at ``http://<server.host>:<server.port>/partners/<platform id>`` (status events
through ``POST /_sim/emit-status``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.config import Config
from gateway.errors import ConfigError
from gateway.links import dev_link_settings
from gateway.transport import AiohttpTransport, Transport

from .app import SimulatedPlatform, SimulatorSpec, build_simulator
from .faults import FaultPlan

__all__ = ["RunningSimulator", "configured_ports", "start_simulators", "stop_simulators"]

DEFAULT_PORT_BASE = 9101


@dataclass
class RunningSimulator:
    platform: str
    url: str
    sim: SimulatedPlatform
    plan: FaultPlan
    runner: web.AppRunner


async def start_simulators(
    config: Config,
    platforms: Sequence[str] = (),
    *,
    port_base: int | None = DEFAULT_PORT_BASE,
    host: str = "127.0.0.1",
    clock: Callable[[], float],
    transport: Transport | None = None,
    gateway_url: str | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    ports: Mapping[str, int] | None = None,
) -> list[RunningSimulator]:
    """Start the simulators of ``platforms`` (all by default); ``port_base=None`` takes free ports; ``ports`` names a
    platform's port outright (``configured_ports``: where the configuration's ``base_url`` says it listens)."""
    registry = config.registry
    if config.dev_credentials is None:
        raise ConfigError(
            config.source,
            "dev.credentials",
            "simulators need development credentials",
            'set [dev] credentials = "var/dev"',
        )
    chosen = list(platforms) or list(registry.platforms)
    unknown = [p for p in chosen if p not in registry.platforms]
    if unknown:
        raise ConfigError("command line", "platform", f"{unknown[0]!r} is not a configured platform")
    _, platform_sides = dev_link_settings(config.dev_credentials, registry)
    order = list(registry.platforms)
    outbound = transport or AiohttpTransport()
    base = gateway_url or f"http://{config.server.host}:{config.server.port}"
    running = []
    for pid in chosen:
        platform = registry.platforms[pid]
        side = platform_sides[pid]
        spec = SimulatorSpec(
            platform,
            dict(side.settings),
            side.base,
            gateway_url=f"{base.rstrip('/')}/partners/{pid}",
            options=(options or {}).get(pid, {}),
        )
        plan = FaultPlan()
        app, sim, tls = build_simulator(spec, registry, clock=clock, transport=outbound, plan=plan)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = 0 if port_base is None else port_base + order.index(pid)
        if ports is not None and pid in ports:
            port = ports[pid]
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        bound = runner.addresses[0][1]
        scheme = "https" if tls is not None else "http"
        running.append(RunningSimulator(pid, f"{scheme}://{host}:{bound}", sim, plan, runner))
    return running


def configured_ports(config: Config) -> dict[str, int]:
    """The port of each platform's loopback ``base_url`` (the simulators answer there unless told otherwise)."""
    found: dict[str, int] = {}
    for pid, platform in config.registry.platforms.items():
        url = urlsplit(str(platform.settings.get("base_url", "")))
        if url.hostname in ("127.0.0.1", "localhost", "::1") and url.port is not None:
            found[pid] = url.port
    return found


async def stop_simulators(running: Sequence[RunningSimulator]) -> None:
    await asyncio.gather(*(r.runner.cleanup() for r in running))
