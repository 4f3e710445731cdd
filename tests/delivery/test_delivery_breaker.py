"""Circuit breaker transitions with a fake clock; the registry keeps destinations apart."""

from __future__ import annotations

import pytest

from gateway.delivery import (
    BreakerRegistry,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    ConnectionFailed,
    Delivered,
    DeliveryConfigError,
    DeliveryError,
    ServerError,
    Undeliverable,
)
from gateway.errors import Refusal, Side


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SETTINGS = BreakerSettings(consecutive_failures=3, failure_ratio=None, cool_down=30)


def tripped(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(SETTINGS, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    return breaker


def test_opens_after_n_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(SETTINGS, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the run
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.opened_since is None
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_since == 1000.0
    assert not breaker.allow()
    assert breaker.retry_at() == 1030.0


def test_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(29.9)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else while it is out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.opened_since is None
    assert breaker.retry_at() is None
    assert breaker.allow()


def test_failed_probe_reopens_and_keeps_opened_since() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    assert breaker.allow()
    clock.advance(2)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_at() == 1062.0
    assert breaker.opened_since == 1000.0
    assert breaker.open_for() == 32.0
    clock.advance(30)
    assert breaker.allow()


def test_lost_probe_is_replaced_after_another_cool_down() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(30)
    assert breaker.allow()
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_stragglers_while_open_do_not_change_state() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_at() == 1030.0


def test_failure_ratio_over_the_window_opens() -> None:
    clock = FakeClock()
    settings = BreakerSettings(consecutive_failures=100, failure_ratio=0.5, window=10, min_calls=6)
    breaker = CircuitBreaker(settings, clock=clock)
    for _ in range(2):
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # 2 of 4: not enough calls to judge
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # 2 of 5
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN  # 3 of 6


def test_record_maps_outcomes_by_type() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(SETTINGS, clock=clock)
    for _ in range(5):
        breaker.record(Refusal("BAD_FORMAT", side=Side.PEER))  # the platform is up and answering
        breaker.record(Refusal("UNKNOWN_ITEM"))  # our own encoder refused: says nothing about the platform
        breaker.record(Undeliverable("UNKNOWN_DESTINATION", "no client"))  # nor does a gap in our configuration
        breaker.record(Delivered("ok"))
    assert breaker.state is BreakerState.CLOSED
    for _ in range(3):
        breaker.record(ServerError("HTTP 503"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(TypeError, match="unclassified"):
        breaker.record(DeliveryError("?"))


def test_registry_isolates_destinations_and_reports_stuck_ones() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(
        SETTINGS, clock=clock, overrides={"g60": BreakerSettings(consecutive_failures=1)}
    )
    for _ in range(3):
        registry.get("hefei").record(ConnectionFailed("refused"))
    registry.get("ningbo").record(Delivered("ok"))
    registry.get("g60").record(ConnectionFailed("refused"))
    assert registry.get("hefei") is registry["hefei"]
    assert registry.states() == {
        "g60": BreakerState.OPEN,
        "hefei": BreakerState.OPEN,
        "ningbo": BreakerState.CLOSED,
    }
    assert registry.get("ningbo").allow()
    assert "songjiang" not in registry
    assert len(registry) == 3
    assert list(registry) == ["g60", "hefei", "ningbo"]
    clock.advance(600)
    assert registry.stuck_open(longer_than=300) == ["g60", "hefei"]
    assert registry.stuck_open(longer_than=900) == []
    assert BreakerRegistry(SETTINGS, clock=clock).states() == {}  # no shared global state


def test_breaker_settings_from_mapping() -> None:
    settings = BreakerSettings.from_mapping(
        {"cool_down": "2m", "failure_ratio": "none", "consecutive_failures": 4}
    )
    assert settings == BreakerSettings(consecutive_failures=4, failure_ratio=None, cool_down=120)
    with pytest.raises(DeliveryConfigError) as info:
        BreakerSettings.from_mapping({"window": 5, "min_calls": 8}, where="gateway.toml [delivery.breaker]")
    assert str(info.value) == "gateway.toml [delivery.breaker]: min_calls = 8: must not exceed window (5)"
    with pytest.raises(DeliveryConfigError, match="failure_ratio = 2"):
        BreakerSettings.from_mapping({"failure_ratio": 2})
    with pytest.raises(DeliveryConfigError, match="cool_down = 0"):
        BreakerSettings.from_mapping({"cool_down": 0})
