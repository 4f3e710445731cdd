"""Replay nonces, the status sequence guard, catalogue item hashes and sync checkpoints."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from store_helpers import T0

from gateway.store import Store


async def test_nonce_is_refused_until_it_expires(store: Store) -> None:
    assert await store.remember_nonce("anhui:hefei", "n-1", expires_at=T0 + 300, now=T0)
    assert not await store.remember_nonce("anhui:hefei", "n-1", expires_at=T0 + 600, now=T0 + 299)
    # another scope is another namespace
    assert await store.remember_nonce("shanghai:songjiang", "n-1", expires_at=T0 + 300, now=T0)
    # once expired the nonce may be used again, and then it is guarded again
    assert await store.remember_nonce("anhui:hefei", "n-1", expires_at=T0 + 900, now=T0 + 300)
    assert not await store.remember_nonce("anhui:hefei", "n-1", expires_at=T0 + 900, now=T0 + 899)


async def test_concurrent_nonce_use_admits_one(store: Store) -> None:
    results = await asyncio.gather(
        *(store.remember_nonce("zlb", "same", expires_at=T0 + 60, now=T0) for _ in range(20))
    )
    assert results.count(True) == 1


async def test_a_forgotten_nonce_may_be_recorded_again_and_only_in_its_scope(store: Store) -> None:
    """A consent ``jti`` reserved for a licence exchange that failed is taken back (gateway/licences.py)."""
    assert await store.remember_nonce("consent-jti", "j-1", expires_at=T0 + 600, now=T0)
    assert await store.remember_nonce("other", "j-1", expires_at=T0 + 600, now=T0)
    await store.forget_nonce("consent-jti", "j-1")
    await store.forget_nonce("consent-jti", "never-recorded")  # nothing to take back is not an error
    assert await store.remember_nonce("consent-jti", "j-1", expires_at=T0 + 600, now=T0 + 1)
    assert not await store.remember_nonce("consent-jti", "j-1", expires_at=T0 + 600, now=T0 + 2)
    assert not await store.remember_nonce("other", "j-1", expires_at=T0 + 600, now=T0 + 2)


async def test_purge_nonces_drops_only_expired(store: Store) -> None:
    for i in range(5):
        await store.remember_nonce("s", f"n{i}", expires_at=T0 + i, now=T0 - 10)
    assert await store.purge_nonces(now=T0 + 2) == 3  # n0, n1, n2
    assert not await store.remember_nonce("s", "n3", expires_at=T0 + 50, now=T0 + 2)
    assert await store.purge_nonces(now=T0 + 2) == 0


async def test_record_seq_returns_the_highest_so_far(store: Store) -> None:
    assert await store.record_seq("3205002405030562129", 2) == 2
    assert await store.record_seq("3205002405030562129", 5) == 5
    assert await store.record_seq("3205002405030562129", 3) == 5  # lower: the receiver refuses it
    assert await store.record_seq("3205002405030562129", 5) == 5
    assert await store.record_seq("OTHERCASE01", 1) == 1
    with pytest.raises(ValueError, match="seq"):
        await store.record_seq("OTHERCASE01", -1)


async def test_checkpoints(store: Store) -> None:
    assert await store.get_checkpoint("anhui-catalogue") is None
    await store.put_checkpoint("anhui-catalogue", "page=3;updated=2025-06-01T00:00:00+08:00")
    await store.put_checkpoint("anhui-catalogue", "page=4")
    await store.put_checkpoint("g60-items", "batch=17")
    assert await store.get_checkpoint("anhui-catalogue") == "page=4"
    assert await store.get_checkpoint("g60-items") == "batch=17"


async def test_item_hashes_in_bulk(store: Store) -> None:
    def h(i: int, version: int = 1) -> str:
        return hashlib.sha256(f"{i}:{version}".encode()).hexdigest()

    hashes = {f"{340100000000 + i:012d}": h(i) for i in range(10_000)}
    started = time.perf_counter()
    await store.put_item_hashes("hefei", hashes)
    got = await store.get_item_hashes("hefei", hashes)
    elapsed = time.perf_counter() - started

    assert got == hashes
    assert elapsed < 5, f"10,000 hashes took {elapsed:.2f}s"
    # updates replace, unknown keys are absent, sources are separate
    await store.put_item_hashes("hefei", {"340100000000": h(0, 2), "340100000001": h(1, 2)})
    some = await store.get_item_hashes("hefei", ["340100000000", "340100000001", "340100000002", "999"])
    assert some == {"340100000000": h(0, 2), "340100000001": h(1, 2), "340100000002": h(2)}
    assert await store.get_item_hashes("huainan", ["340100000000"]) == {}
    assert await store.get_item_hashes("hefei", []) == {}
    await store.put_item_hashes("hefei", {})


async def test_latest_source_finds_a_case_origin_by_key_prefix(store: Store) -> None:
    from gateway.store.api import InboundRecord

    await store.accept(InboundRecord("case", "3205002405030562129:4", "songjiang", 10.0, b"r1", "t"), [])
    await store.accept(InboundRecord("case", "3205002405030562129:5", "g60", 20.0, b"r2", "t"), [])
    await store.accept(InboundRecord("case", "32050024050305621290:1", "ningbo", 30.0, b"r3", "t"), [])
    await store.accept(InboundRecord("status", "3205002405030562129:1", "hefei", 40.0, b"r4", "t"), [])
    assert await store.latest_source("case", "3205002405030562129:") == "g60"
    assert await store.latest_source("case", "32050024050305621290:") == "ningbo"
    assert await store.latest_source("case", "9999999:") is None
