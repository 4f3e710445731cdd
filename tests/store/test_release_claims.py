"""``release_claims``: a stopping worker hands back, in one owner-checked statement, everything it still holds."""

from __future__ import annotations

from store_helpers import T0, queue

from gateway.store import Store

LEASE = 120.0


async def test_release_hands_back_only_the_owners_live_claims(store: Store) -> None:
    mine_a, mine_b, theirs, delivered, waiting = await queue(store, "g60", "g60", "hefei", "g60", "g60")
    await store.claim_due(now=T0 + 3, limit=2, owner="stopping", lease_seconds=LEASE, destination="g60")
    await store.claim_due(now=T0 + 3, limit=1, owner="other", lease_seconds=LEASE, destination="hefei")
    (done,) = await store.claim_due(now=T0 + 3, limit=1, owner="stopping", lease_seconds=LEASE, destination="g60")
    assert done.id == delivered.id
    assert await store.mark_delivered(done.id, "stopping", b"ok", now=T0 + 3)

    released = await store.release_claims("stopping", T0 + 5, "NOT_SENT", "released at shutdown")

    assert released == 2
    for m in (mine_a, mine_b):
        got = await store.get_message(m.id)
        assert got is not None
        assert (got.state, got.lease_owner, got.lease_until) == ("pending", None, None)
        assert (got.next_attempt_at, got.attempts, got.last_error_code) == (T0 + 5, 1, "NOT_SENT")
    other = await store.get_message(theirs.id)
    assert other is not None and (other.state, other.lease_owner) == ("delivering", "other")
    finished = await store.get_message(delivered.id)
    assert finished is not None and finished.state == "delivered"
    untouched = await store.get_message(waiting.id)
    assert untouched is not None and untouched.state == "pending" and untouched.attempts == 0
    # claimable at once by another instance, not after the lease
    again = await store.claim_due(now=T0 + 5, limit=10, owner="next", lease_seconds=LEASE, destination="g60")
    assert {m.id for m in again} == {mine_a.id, mine_b.id, waiting.id}
    assert await store.release_claims("stopping", T0 + 6, "NOT_SENT", "again") == 0  # nothing of ours is left


async def test_a_lease_taken_over_by_another_owner_is_not_released(store: Store) -> None:
    (m,) = await queue(store, "g60")
    await store.claim_due(now=T0, limit=1, owner="slow", lease_seconds=LEASE)
    await store.claim_due(now=T0 + LEASE, limit=1, owner="fast", lease_seconds=LEASE)  # the lease ran out
    assert await store.release_claims("slow", T0 + LEASE + 1, "NOT_SENT", "late") == 0
    got = await store.get_message(m.id)
    assert got is not None and (got.state, got.lease_owner) == ("delivering", "fast")
