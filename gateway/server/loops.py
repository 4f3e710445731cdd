"""The event loop ``gateway serve`` runs on: uvloop where it is installed, else asyncio's own (issue 15 item 5).

Why: the intake is CPU-bound on the event-loop thread (docs/performance.md), and uvloop (libuv, Cython) spends less
of it on the loop itself, its transports and its callbacks than asyncio's selector loop does. uvloop is optional
(``pip install 'tongban-gateway[fast]'``): without it, or with ``serve --loop asyncio``, the gateway runs on asyncio
exactly as before, and the suite runs the gateway both ways (``tests/pipeline/test_event_loops.py``).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["AUTO", "LOOPS", "loop_factory", "loop_name", "run_loop"]

AUTO = "auto"
LOOPS = (AUTO, "asyncio", "uvloop")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop ``choice`` names (``None``: asyncio's default). ``auto`` is uvloop when it can be
    imported; ``uvloop`` without uvloop installed is an error naming the fix."""
    if choice not in LOOPS:
        raise ValueError(f"{choice!r} is not one of {', '.join(LOOPS)}")
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "uvloop":
            raise ValueError(
                "uvloop is not installed: pip install 'tongban-gateway[fast]' (or serve --loop asyncio)"
            ) from exc
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``, for the start-up log line."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run_loop(main: Coroutine[Any, Any, None], choice: str = AUTO) -> None:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        runner.run(main)
