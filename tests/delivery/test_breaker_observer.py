"""A breaker tells its observer every state change when it happens, so the gauge shows even a one-probe half-open."""

from __future__ import annotations

from gateway.delivery import BreakerRegistry, BreakerSettings, BreakerState, CircuitBreaker

SETTINGS = BreakerSettings(consecutive_failures=2, failure_ratio=None, cool_down=10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_transition_of_the_table_is_reported_once() -> None:
    clock = FakeClock()
    seen: list[BreakerState] = []
    breaker = CircuitBreaker(SETTINGS, clock=clock, on_change=seen.append)
    breaker.record_success()
    breaker.record_failure()
    assert seen == []  # closed and still closed: nothing to report
    breaker.record_failure()
    assert seen == [BreakerState.OPEN]
    assert not breaker.allow()  # asked during the cool-down: still open, no report
    clock.now += 10
    assert breaker.allow()  # the probe goes out: half-open now, not at the next gauge refresh
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN]
    assert not breaker.allow()
    breaker.record_failure()  # the probe failed: open again
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()  # the probe succeeded: closed
    assert seen == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_a_lost_probe_replaced_is_not_a_new_change() -> None:
    clock = FakeClock()
    seen: list[BreakerState] = []
    breaker = CircuitBreaker(SETTINGS, clock=clock, on_change=seen.append)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    clock.now += 10  # the probe never reported back: a new one is let through, still half-open
    assert breaker.allow()
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN]


def test_the_registry_names_the_destination_and_takes_an_observer_set_later() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(SETTINGS, clock=clock)
    registry.get("hefei").record_failure()  # created before the observer is set
    seen: list[tuple[str, BreakerState]] = []
    registry.on_change = lambda destination, state: seen.append((destination, state))
    registry.get("hefei").record_failure()
    registry.get("g60").record_success()
    assert seen == [("hefei", BreakerState.OPEN)]
