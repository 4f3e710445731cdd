"""next_action with a fake clock and a seeded random source; RetryPolicy read from config tables."""

from __future__ import annotations

import random

import pytest

from gateway.delivery import (
    DELIVERY_ATTEMPTS_EXHAUSTED,
    DELIVERY_EXPIRED,
    ConnectionFailed,
    DeadLetter,
    Delivered,
    DeliveryConfigError,
    DeliveryError,
    DeliveryTimeout,
    Done,
    RetryAt,
    RetryPolicy,
    ServerError,
    Throttled,
    TransientKind,
    Undeliverable,
    next_action,
)
from gateway.errors import Refusal, Side

T0 = 1_750_000_000.0  # the fake clock's reading at the first attempt
NO_JITTER = RetryPolicy(base_delay=10, factor=2, max_delay=300, jitter=0, max_age=3600)


def test_delivered_is_done_with_the_receipt() -> None:
    action = next_action(NO_JITTER, 1, T0, T0, Delivered("receipt-42"), rng=random.Random(0))
    assert action == Done("receipt-42")


def test_permanent_refusal_is_dead_at_once_with_the_platforms_code() -> None:
    refusal = Refusal("UNKNOWN_ITEM", "TASK_CODE", "事项编码不存在", side=Side.PEER)
    action = next_action(NO_JITTER, 1, T0, T0 + 1, refusal, rng=random.Random(0))
    assert action == DeadLetter("UNKNOWN_ITEM", "refused by the destination", "TASK_CODE", "事项编码不存在")
    assert "事项编码不存在" not in repr(action)


def test_our_own_refusal_is_dead_at_once_and_does_not_blame_the_destination() -> None:
    """Issue 13: an item the destination's crosswalk lacks is refused by the gateway's encoder; the dead letter must
    not say the destination refused it."""
    refusal = Refusal("UNKNOWN_ITEM", "taskCode", "no code of the destination for this item")
    action = next_action(NO_JITTER, 1, T0, T0 + 1, refusal, rng=random.Random(0))
    assert action == DeadLetter("UNKNOWN_ITEM", "refused by the gateway", "taskCode", refusal.detail)


def test_undeliverable_is_dead_at_once_with_its_own_code_and_reason() -> None:
    undeliverable = Undeliverable("UNKNOWN_DESTINATION", "no client")
    action = next_action(NO_JITTER, 1, T0, T0 + 1, undeliverable, rng=random.Random(0))
    assert action == DeadLetter("UNKNOWN_DESTINATION", "no client")


def test_backoff_grows_then_is_capped() -> None:
    whens = []
    now = T0
    for attempts in range(1, 9):
        action = next_action(NO_JITTER, attempts, T0, now, ServerError("HTTP 503"), rng=random.Random(0))
        assert isinstance(action, RetryAt)
        assert action.kind is TransientKind.SERVER_ERROR
        whens.append(action.when - now)
        now = action.when
    assert whens == [10, 20, 40, 80, 160, 300, 300, 300]


def test_jitter_stays_within_bounds_and_is_reproducible_with_a_seed() -> None:
    policy = RetryPolicy(base_delay=10, factor=2, max_delay=300, jitter=0.5, max_age=86400)
    delays = []
    for seed in range(50):
        action = next_action(policy, 4, T0, T0 + 100, ConnectionFailed("reset"), rng=random.Random(seed))
        assert isinstance(action, RetryAt)
        delays.append(action.when - (T0 + 100))
    assert all(40 <= d <= 80 for d in delays)
    assert len(set(delays)) > 40
    again = next_action(policy, 4, T0, T0 + 100, ConnectionFailed("reset"), rng=random.Random(3))
    assert isinstance(again, RetryAt)
    assert again.when - (T0 + 100) == delays[3]


def test_retry_after_is_a_floor_not_a_cap() -> None:
    longer = next_action(NO_JITTER, 1, T0, T0, Throttled("HTTP 429", retry_after=120), rng=random.Random(0))
    assert longer == RetryAt(T0 + 120, TransientKind.THROTTLED)
    shorter = next_action(NO_JITTER, 3, T0, T0, Throttled("HTTP 429", retry_after=1), rng=random.Random(0))
    assert shorter == RetryAt(T0 + 40, TransientKind.THROTTLED)
    beyond_cap = next_action(
        NO_JITTER, 1, T0, T0, Throttled("HTTP 429", retry_after=900), rng=random.Random(0)
    )
    assert beyond_cap == RetryAt(T0 + 900, TransientKind.THROTTLED)


def test_past_max_age_is_dead_letter_expired() -> None:
    action = next_action(
        NO_JITTER, 12, T0, T0 + 3600, DeliveryTimeout("no answer in 30s"), rng=random.Random(0)
    )
    assert isinstance(action, DeadLetter)
    assert action.code == DELIVERY_EXPIRED
    assert "timeout" in action.reason


def test_last_retry_is_moved_to_the_deadline() -> None:
    now = T0 + 3590  # backoff would say +300, the deadline is 10 s away
    action = next_action(NO_JITTER, 8, T0, now, ServerError("HTTP 502"), rng=random.Random(0))
    assert action == RetryAt(T0 + 3600, TransientKind.SERVER_ERROR)


def test_retry_after_beyond_the_deadline_is_dead_now() -> None:
    action = next_action(
        NO_JITTER, 2, T0, T0 + 3000, Throttled("HTTP 429", retry_after=1200), rng=random.Random(0)
    )
    assert isinstance(action, DeadLetter)
    assert action.code == DELIVERY_EXPIRED


def test_max_attempts_ends_in_attempts_exhausted() -> None:
    policy = RetryPolicy(jitter=0, max_attempts=3)
    assert isinstance(next_action(policy, 2, T0, T0 + 5, ServerError("503"), rng=random.Random(0)), RetryAt)
    action = next_action(policy, 3, T0, T0 + 5, ServerError("503"), rng=random.Random(0))
    assert isinstance(action, DeadLetter)
    assert action.code == DELIVERY_ATTEMPTS_EXHAUSTED


def test_unclassified_errors_and_bad_attempt_counts_fail_loudly() -> None:
    with pytest.raises(TypeError, match="unclassified"):
        next_action(NO_JITTER, 1, T0, T0, DeliveryError("?"), rng=random.Random(0))
    with pytest.raises(ValueError, match="attempts"):
        next_action(NO_JITTER, 0, T0, T0, ServerError("503"), rng=random.Random(0))


def test_policy_from_mapping_reads_durations_and_keeps_defaults() -> None:
    defaults = RetryPolicy.from_mapping({"base_delay": "30s", "max_delay": "2h", "max_age": "3d"})
    assert (defaults.base_delay, defaults.max_delay, defaults.max_age) == (30, 7200, 259200)
    hefei = RetryPolicy.from_mapping({"max_attempts": 5, "short_wait": "250ms"}, defaults=defaults)
    assert hefei.base_delay == 30
    assert hefei.max_attempts == 5
    assert hefei.short_wait == 0.25
    assert RetryPolicy.from_mapping({"max_attempts": "none"}, defaults=hefei).max_attempts is None


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ({"max_dealy": 10}, "max_dealy", 10),
        ({"base_delay": "ten seconds"}, "base_delay", "ten seconds"),
        ({"base_delay": True}, "base_delay", True),
        ({"jitter": 1.5}, "jitter", 1.5),
        ({"factor": 0.5}, "factor", 0.5),
        ({"max_attempts": 0}, "max_attempts", 0),
        ({"short_attempts": 2.0}, "short_attempts", 2.0),
        ({"base_delay": 600, "max_delay": 60}, "max_delay", 60),
        ({"max_age": 0}, "max_age", 0),
        ({"base_delay": "2h"}, "base_delay", "2h"),  # above the default max_delay of 1 h
        ({"short_wait": 10}, "short_wait", 10),
    ],
)
def test_policy_errors_name_the_key_and_the_value(table: dict[str, object], key: str, value: object) -> None:
    with pytest.raises(DeliveryConfigError) as info:
        RetryPolicy.from_mapping(table, where="gateway.toml [destinations.hefei.retry]")
    assert info.value.key == key
    assert info.value.value == value
    assert str(info.value).startswith(f"gateway.toml [destinations.hefei.retry]: {key} = {value!r}: ")
