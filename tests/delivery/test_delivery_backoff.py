"""The jitter formula: bounds, growth and the cap, by example and by property."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.delivery import Backoff


def test_nominal_grows_by_factor_then_caps() -> None:
    backoff = Backoff(base=10, factor=2, max_delay=100, jitter=0)
    assert [backoff.nominal(n) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_no_jitter_is_exactly_nominal() -> None:
    backoff = Backoff(base=1, factor=3, max_delay=1000, jitter=0)
    rng = random.Random(7)
    assert [backoff.delay(n, rng) for n in (1, 2, 3)] == [1, 3, 9]


def test_equal_jitter_stays_in_upper_half_and_varies() -> None:
    backoff = Backoff(base=8, factor=2, max_delay=64, jitter=0.5)
    rng = random.Random(1)
    delays = [backoff.delay(3, rng) for _ in range(200)]
    assert all(16 <= d <= 32 for d in delays)
    assert max(delays) - min(delays) > 10  # it really spreads


def test_full_jitter_can_go_near_zero() -> None:
    backoff = Backoff(base=8, factor=2, max_delay=64, jitter=1)
    rng = random.Random(2)
    delays = [backoff.delay(4, rng) for _ in range(200)]
    assert all(0 <= d <= 64 for d in delays)
    assert min(delays) < 4


def test_huge_retry_numbers_do_not_overflow() -> None:
    backoff = Backoff(base=1, factor=10, max_delay=60, jitter=0)
    assert backoff.nominal(100_000) == 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": -1, "factor": 2, "max_delay": 10, "jitter": 0}, "base"),
        ({"base": 1, "factor": 0.5, "max_delay": 10, "jitter": 0}, "factor"),
        ({"base": 10, "factor": 2, "max_delay": 5, "jitter": 0}, "max_delay"),
        ({"base": 1, "factor": 2, "max_delay": 10, "jitter": 1.5}, "jitter"),
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        Backoff(base=1, factor=2, max_delay=10, jitter=0).nominal(0)


@given(
    base=st.floats(min_value=0, max_value=1000, allow_nan=False),
    factor=st.floats(min_value=1, max_value=10, allow_nan=False),
    extra=st.floats(min_value=0, max_value=10_000, allow_nan=False),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(min_value=0, max_value=2**32),
    retries=st.integers(min_value=1, max_value=80),
)
def test_property_delay_within_cap_and_lower_bound_never_decreases(
    base: float, factor: float, extra: float, jitter: float, seed: int, retries: int
) -> None:
    backoff = Backoff(base=base, factor=factor, max_delay=base + extra, jitter=jitter)
    rng = random.Random(seed)
    previous_lower = 0.0
    for n in range(1, retries + 1):
        delay = backoff.delay(n, rng)
        lower = backoff.lower_bound(n)
        assert 0 <= delay <= backoff.max_delay
        assert lower <= delay <= backoff.nominal(n)
        assert lower >= previous_lower
        previous_lower = lower
