"""Fault injection for a simulator: error rate, added latency, down windows, 429 with Retry-After, dropped
connections. Set by command-line flags at start and changed at run time through the control endpoint
``PUT /_sim/faults`` (JSON). Decisions use a seeded random source so a test run is repeatable.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

__all__ = ["FaultPlan", "fault_middleware"]

CONTROL_PREFIX = "/_sim/"


@dataclass
class FaultPlan:
    error_rate: float = 0.0  # share of calls answered 503 (a platform fault)
    latency_ms: float = 0.0  # added to every call
    down_until: float = 0.0  # Unix time; before it every call fails at the TCP level (connection dropped)
    throttle_rate: float = 0.0  # share of calls answered 429
    retry_after: int = 1  # seconds, sent with 429
    drop_rate: float = 0.0  # share of calls whose connection is dropped without an answer
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON object of changes; unknown keys or wrong types raise ``ValueError`` naming the key."""
        known = {f.name: f for f in fields(self) if f.name != "rng"}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault setting {key!r}; known: {', '.join(sorted(known))}")
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"fault setting {key!r} needs a number, got {value!r}")
            setattr(self, key, type(getattr(self, key))(value))
        if "seed" in changes:
            self.rng.seed(self.seed)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rng", None)
        return data


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(plan: FaultPlan, clock: Callable[[], float]) -> Any:
    """Misbehave as ``plan`` says, for every route except the control endpoint."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if clock() < plan.down_until or (plan.drop_rate and plan.rng.random() < plan.drop_rate):
            await request.read()
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("simulated dropped connection")
        if plan.throttle_rate and plan.rng.random() < plan.throttle_rate:
            return web.json_response(
                {"code": "429", "msg": "too many requests"}, status=429, headers={"Retry-After": str(plan.retry_after)}
            )
        if plan.error_rate and plan.rng.random() < plan.error_rate:
            return web.json_response({"code": "503", "msg": "simulated platform fault"}, status=503)
        return await handler(request)

    return middleware
