"""Per-dialect simulator extras (licence libraries, catalogues, item batch results), by dialect name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["extras_for"]

EXTRAS = {"anhui", "g60", "shanghai", "zlb"}


def extras_for(dialect: str) -> Callable[[Any, Any, Any], None] | None:
    """The dialect's ``install_simulator_extras(sim, spec, ctx)``, or None when its simulators take submissions only."""
    if dialect not in EXTRAS:
        return None
    install: Callable[[Any, Any, Any], None] = importlib.import_module(
        f"adapters.{dialect}.simulator"
    ).install_simulator_extras
    return install
