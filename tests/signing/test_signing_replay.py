"""The in-memory replay guard: window, repeated nonces, TTL expiry and the memory bound."""

from __future__ import annotations

import pytest

from signing.errors import Replayed
from signing.replay import InMemoryReplayGuard, ReplayGuard

T0 = 1_748_395_200.0


async def test_fresh_nonce_accepted_then_replay_refused() -> None:
    guard = InMemoryReplayGuard(window=300, ttl=600)
    assert isinstance(guard, ReplayGuard)
    await guard.check("partner-a", "n1", T0, T0)
    with pytest.raises(Replayed) as err:
        await guard.check("partner-a", "n1", T0 + 1, T0 + 1)
    assert err.value.reason == "nonce_seen"
    await guard.check("partner-b", "n1", T0, T0 + 1)  # scopes do not collide


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
async def test_outside_window_refused(skew: float) -> None:
    guard = InMemoryReplayGuard(window=300, ttl=600)
    with pytest.raises(Replayed) as err:
        await guard.check("s", f"n{skew}", T0 + skew, T0)
    assert err.value.reason == "outside_window"
    assert len(guard) == 0


async def test_window_edges_accepted() -> None:
    guard = InMemoryReplayGuard(window=300, ttl=600)
    await guard.check("s", "a", T0 - 300, T0)
    await guard.check("s", "b", T0 + 300, T0)


async def test_nonce_forgotten_after_ttl_and_expired_entries_dropped() -> None:
    guard = InMemoryReplayGuard(window=300, ttl=600)
    for i in range(50):
        await guard.check("s", f"n{i}", T0, T0)
    assert len(guard) == 50
    await guard.check("s", "later", T0 + 601, T0 + 601)
    assert len(guard) == 1  # the 50 expired entries were purged
    await guard.check("s", "n0", T0 + 602, T0 + 602)  # reuse after TTL is accepted


async def test_memory_bound_drops_oldest() -> None:
    guard = InMemoryReplayGuard(window=300, ttl=600, max_entries=100)
    for i in range(1000):
        await guard.check("s", f"n{i}", T0, T0 + i * 0.01)
        assert len(guard) <= 100
    assert guard.evicted == 900
    with pytest.raises(Replayed):
        await guard.check("s", "n999", T0, T0 + 10)  # recent nonces are still remembered
    await guard.check("s", "n0", T0, T0 + 10)  # the oldest was dropped at the cap (documented)


@pytest.mark.parametrize("nonce", ["", "x" * 257])
async def test_bad_nonce_refused(nonce: str) -> None:
    with pytest.raises(Replayed) as err:
        await InMemoryReplayGuard().check("s", nonce, T0, T0)
    assert err.value.reason == "bad_nonce"


def test_invalid_configuration_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        InMemoryReplayGuard(window=0)
    with pytest.raises(ValueError, match="positive"):
        InMemoryReplayGuard(max_entries=0)
