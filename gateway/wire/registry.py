"""Building a platform's link, client and endpoint from its dialect's declaration: one way, used everywhere.

The gateway's delivery clients, the licence and catalogue clients, the sync, the demo's partners, the simulators'
call-backs and the pipeline tests all build a client the same way: load the side's link table with the dialect's
loader, put it in a ``WireContext`` with the registry's adapter for the dialect, and call the dialect's ``client``
factory (``gateway.dialects``). Endpoints likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.dialects import DialectLink, dialect
from gateway.registry import Platform, Registry
from gateway.transport import Transport
from signing.replay import ReplayGuard

from .base import Clock, InboundHandler, PlatformClient, PlatformEndpoint, WireContext

__all__ = ["load_platform_link", "platform_client", "platform_endpoint"]


def load_platform_link(platform: Platform, settings: Mapping[str, Any], base: Path) -> DialectLink:
    """One side's link of ``platform`` (its dialect's ``Link``, a ``gateway.dialects.DialectLink``)."""
    return dialect(platform.dialect).load_link(settings, base)


def platform_client(
    registry: Registry, platform: Platform, link: DialectLink, transport: Transport, clock: Clock, base_url: str
) -> PlatformClient:
    """A client calling ``platform`` (or the gateway's routes for it) at ``base_url`` with ``link``."""
    ctx = WireContext(platform, link, registry.adapter(platform.dialect), clock, base_url)
    return dialect(platform.dialect).client(ctx, transport)


def platform_endpoint(
    registry: Registry,
    platform: Platform,
    link: DialectLink,
    clock: Clock,
    replay: ReplayGuard,
    handler: InboundHandler,
) -> PlatformEndpoint:
    """The documented routes of ``platform``, served with ``link`` by ``handler``."""
    ctx = WireContext(platform, link, registry.adapter(platform.dialect), clock)
    return dialect(platform.dialect).endpoint(ctx, replay, handler)
