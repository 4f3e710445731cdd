"""The two wire clients of a sync, built from configuration: the source's (pages) and the target's (batches).

Each holds the gateway's side of its link (``gateway.links``: an inline ``[platforms.<id>.link]`` table, or the
development credentials), the dialect's adapter from the registry and the platform's ``base_url``; the dialect
decides the rest (anhui: TIF + JWS over HTTP; g60: mutual TLS + XMLDSig). No platform name appears here.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import Config
from gateway.errors import ConfigError
from gateway.links import gateway_link_settings
from gateway.transport import Transport
from gateway.wire.base import PlatformClient
from gateway.wire.registry import load_platform_link, platform_client

__all__ = ["sync_clients"]


def _client(config: Config, pid: str, transport: Transport, clock: Callable[[], float]) -> PlatformClient:
    registry = config.registry
    platform = registry.platforms[pid]
    base_url = platform.settings.get("base_url")
    if not isinstance(base_url, str) or not base_url:
        raise ConfigError(
            config.source,
            f"platforms.{pid}.base_url",
            "the sync needs the platform's base URL",
            'write e.g. base_url = "https://..."',
        )
    links = gateway_link_settings(registry, config.base_dir, config.dev_credentials, config.source)
    link = load_platform_link(platform, links[pid].settings, links[pid].base)
    return platform_client(registry, platform, link, transport, clock, base_url)


def sync_clients(
    config: Config, source: str, target: str, transport: Transport, clock: Callable[[], float]
) -> tuple[PlatformClient, PlatformClient]:
    """(source client, target client); ``ConfigError`` naming the option when either is not a platform."""
    for option, pid in (("--from", source), ("--to", target)):
        if pid not in config.registry.platforms:
            known = ", ".join(sorted(config.registry.platforms))
            raise ConfigError("command line", option, f"{pid!r} is not a configured platform", f"use one of {known}")
    if source == target:
        raise ConfigError("command line", "--to", "the target is the source", "name another platform")
    return _client(config, source, transport, clock), _client(config, target, transport, clock)
