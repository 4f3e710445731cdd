"""The built-in dialect packages: one line per dialect, each package declaring ``DIALECT`` in its ``__init__``.

A dialect outside this tree is registered by one configuration line instead (``[gateway] dialect_packages``);
``gateway.dialects`` loads both (docs/running.md, "Adding a dialect").
"""

from __future__ import annotations

__all__ = ["PACKAGES"]

PACKAGES: tuple[str, ...] = (
    "adapters.anhui",
    "adapters.g60",
    "adapters.zlb",
    "adapters.hunan",
    "adapters.shanghai",
)
