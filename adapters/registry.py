"""Dialect adapters by name. A new dialect is one adapter module plus its mapping folder, registered here."""

from __future__ import annotations

import importlib

from gateway.errors import ConfigError

from .base import DialectAdapter

__all__ = ["DIALECTS", "adapter_class"]

#: dialect name → "module:Class" (imported on first use)
DIALECTS: dict[str, str] = {
    "anhui": "adapters.anhui.codec:AnhuiAdapter",
    "g60": "adapters.g60.codec:G60Adapter",
    "zlb": "adapters.zlb.codec:ZlbAdapter",
    "hunan": "adapters.hunan.codec:HunanAdapter",
    "shanghai": "adapters.shanghai.codec:ShanghaiAdapter",
}


def adapter_class(dialect: str) -> type[DialectAdapter]:
    target = DIALECTS.get(dialect)
    if target is None:
        known = ", ".join(sorted(DIALECTS))
        raise ConfigError("platform registry", "dialect", f"unknown dialect {dialect!r}", f"use one of {known}")
    module, _, cls = target.partition(":")
    adapter: type[DialectAdapter] = getattr(importlib.import_module(module), cls)
    return adapter
