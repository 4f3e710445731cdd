"""Replay protection: a time window plus a nonce cache, behind a small async protocol.

``ReplayGuard.check(scope, nonce, timestamp, now)`` raises :class:`signing.errors.Replayed` when
``|timestamp - now| > window`` (reason ``outside_window``) or when ``nonce`` was already seen in ``scope``
within its TTL (reason ``nonce_seen``); otherwise it records the nonce. ``scope`` separates partners and
schemes so one partner's nonce never collides with another's. All times are Unix seconds supplied by the
caller (injectable clock). A durable store (e.g. PostgreSQL) implements the same protocol later.

:class:`InMemoryReplayGuard` is bounded: entries live ``ttl`` seconds and are dropped once expired; at
``max_entries`` the *oldest* entry is dropped to make room (counted in ``evicted``). Dropping early weakens
protection only for that oldest nonce, and only while its timestamp is still inside the window; size
``max_entries`` above the peak rate times ``ttl`` and alert on ``evicted``. Choose ``ttl >= 2 * window`` so a
nonce is remembered for as long as its timestamp can be accepted.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, runtime_checkable

from signing.errors import Replayed

__all__ = ["InMemoryReplayGuard", "ReplayGuard"]

_MAX_NONCE = 256


@runtime_checkable
class ReplayGuard(Protocol):
    """Accept a (scope, nonce, timestamp) once, within the window; raise :class:`Replayed` otherwise."""

    async def check(self, scope: str, nonce: str, timestamp: float, now: float) -> None:
        """Record the nonce or raise :class:`Replayed`."""


class InMemoryReplayGuard:
    """A bounded in-process nonce cache (one gateway instance); see the module docstring for the bounds."""

    def __init__(self, window: float = 300.0, ttl: float = 600.0, max_entries: int = 100_000) -> None:
        if window <= 0 or ttl <= 0 or max_entries < 1:
            raise ValueError("window and ttl must be positive and max_entries at least 1")
        self.window = window
        self.ttl = ttl
        self.max_entries = max_entries
        self.evicted = 0
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _purge(self, now: float) -> None:
        # Insertion order is expiry order as long as ``now`` does not go backwards; an out-of-order entry
        # is purged a little later, never earlier than its expiry.
        seen = self._seen
        while seen:
            key, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[key]

    async def check(self, scope: str, nonce: str, timestamp: float, now: float) -> None:
        """See :class:`ReplayGuard`. Runs without awaiting, so it is atomic within one event loop."""
        if not nonce or len(nonce) > _MAX_NONCE:
            raise Replayed("bad_nonce", "nonce is empty or too long")
        if abs(timestamp - now) > self.window:
            raise Replayed("outside_window", "timestamp is outside the accepted window")
        self._purge(now)
        key = (scope, nonce)
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            raise Replayed("nonce_seen", "nonce was already used")
        self._seen[key] = now + self.ttl
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
            self.evicted += 1
