"""Wire schemes by dialect: each is one module under ``gateway/wire/`` with a fixed set of names.

A scheme module exposes:

- ``Link``: frozen dataclass of one side's credentials (own keys and secrets, the peer's public keys);
- ``load_link(settings: Mapping[str, Any], base: Path) -> Link``: read a ``[platforms.<id>.link]`` table (file paths
  relative to ``base``); errors are ``ConfigError`` naming the key;
- ``generate_link(folder: Path, platform: Platform) -> (gateway_side: dict, platform_side: dict)``: make a matched
  pair of development credentials (keys, certificates, secrets written under ``folder``), for tests and the demo;
- ``Client(PlatformClient)`` and ``Endpoint(PlatformEndpoint)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from gateway.errors import ConfigError

__all__ = ["SCHEMES", "scheme"]

SCHEMES: dict[str, str] = {
    "anhui": "adapters.anhui.roles",
    "g60": "adapters.g60.roles",
    "zlb": "adapters.zlb.roles",
    "hunan": "adapters.hunan.roles",
    "shanghai": "adapters.shanghai.roles",
}


def scheme(dialect: str) -> ModuleType:
    target = SCHEMES.get(dialect)
    if target is None:
        raise ConfigError("platform registry", "dialect", f"no wire scheme for {dialect!r}")
    return importlib.import_module(target)
