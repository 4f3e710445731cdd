"""The replay guard of the inbound wire schemes, persisted in the store: a restart does not reopen a window.

Same contract as ``signing.replay.ReplayGuard``: a timestamp more than ``window`` seconds from now, or a nonce
already seen in its scope within ``ttl`` seconds, is ``Replayed``. Several instances sharing PostgreSQL share
their nonces too, so a message replayed to another instance is refused as well.
"""

from __future__ import annotations

from gateway.store.api import Nonces
from signing.errors import Replayed

__all__ = ["StoreReplayGuard"]


class StoreReplayGuard:
    def __init__(self, store: Nonces, *, window: float = 300.0, ttl: float = 600.0) -> None:
        self.store = store
        self.window = window
        self.ttl = ttl

    async def check(self, scope: str, nonce: str, timestamp: float, now: float) -> None:
        if abs(now - timestamp) > self.window:
            raise Replayed("outside_window", "timestamp is outside the accepted window")
        if not await self.store.remember_nonce(scope, nonce, now + self.ttl, now):
            raise Replayed("nonce_seen", "nonce was already used")
