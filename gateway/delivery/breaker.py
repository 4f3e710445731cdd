"""A circuit breaker per destination: stop hammering a platform that is down.

The state machine (rules for editing: every transition is in this table and in exactly one method)::

    state       event                                   next state   method
    ---------   -------------------------------------   ----------   ----------------
    closed      failure; N in a row, or ratio tripped   open         record_failure
    closed      success                                 closed       record_success
    open        cool-down elapsed, a caller asks        half_open    allow (one probe)
    open        asked before the cool-down ends         open         allow -> False
    half_open   probe succeeds                          closed       record_success
    half_open   probe fails                             open         record_failure
    half_open   asked while the probe is out            half_open    allow -> False

A *failure* is a transient delivery failure only. A refusal (:class:`~gateway.errors.Refusal`) or an
:class:`~gateway.delivery.outcomes.Undeliverable` says nothing about the platform being down, so it counts as
a success here, as a peer's refusal (which proves the platform is up and answering) always did
(:meth:`CircuitBreaker.record` does the mapping). Outcomes that arrive while the breaker is open (calls that
were already in flight) are ignored: only the half-open probe decides when to close.

A probe that never reports back (the worker crashed or was cancelled) would keep the breaker half-open
forever; after one more cool-down a new probe is let through.

The breaker keeps no I/O and reads time only through the injected ``clock`` (``time.monotonic`` by
default; tests pass a fake). ``opened_since`` is when it left *closed* and is kept through failed
probes, so readiness can say "open for 2 hours" rather than "open for 30 seconds" each cycle.
There is no global registry: whoever builds the app owns a :class:`BreakerRegistry`.

An observer (``on_change``) hears every change of the *reported* state at the moment it happens: opening, the
probe being handed out (half-open), closing. A metrics gauge refreshed on a timer would miss a half-open state
that lasts one probe; the observer cannot. The open → half-open change itself happens on the clock, not on an
event, so it is reported when a caller asks (:meth:`CircuitBreaker.allow`) and hands out the probe.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.delivery.outcomes import Delivered, DeliveryError, TransientDeliveryError, Undeliverable
from gateway.delivery.settings import (
    DeliveryConfigError,
    read_duration,
    read_int,
    read_number,
    refuse_unknown_keys,
)
from gateway.errors import Refusal

__all__ = ["BreakerRegistry", "BreakerSettings", "BreakerState", "CircuitBreaker", "Clock", "StateObserver"]

Clock = Callable[[], float]
#: Told the breaker's new state whenever it changes (metrics gauges, logs); must not raise.
StateObserver = Callable[["BreakerState"], None]


class BreakerState(enum.StrEnum):
    """The breaker's state as a metric label."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When to open and for how long.

    Opens after ``consecutive_failures`` transient failures in a row, or, when ``failure_ratio`` is
    set, when at least that share of the last ``window`` outcomes failed (judged only once
    ``min_calls`` outcomes are in the window, so two failures out of three calls do not trip it).
    Stays open ``cool_down`` seconds before letting one probe through.
    """

    consecutive_failures: int = 5
    failure_ratio: float | None = 0.5
    window: int = 20
    min_calls: int = 10
    cool_down: float = 30.0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ValueError(f"consecutive_failures must be >= 1, got {self.consecutive_failures!r}")
        if self.failure_ratio is not None and not 0 < self.failure_ratio <= 1:
            raise ValueError(f"failure_ratio must be in (0, 1] or None, got {self.failure_ratio!r}")
        if not 1 <= self.min_calls <= self.window:
            raise ValueError(
                f"min_calls must be between 1 and window ({self.window!r}), got {self.min_calls!r}"
            )
        if not self.cool_down > 0:
            raise ValueError(f"cool_down must be > 0 seconds, got {self.cool_down!r}")

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, object],
        *,
        where: str = "delivery breaker",
        defaults: BreakerSettings | None = None,
    ) -> BreakerSettings:
        """Read settings from a config table; absent keys keep ``defaults``.

        ``failure_ratio = "none"`` turns the ratio rule off (consecutive failures only).

        Raises :class:`~gateway.delivery.settings.DeliveryConfigError` naming the key and the value.
        """
        base = defaults if defaults is not None else cls()
        refuse_unknown_keys(data, _BREAKER_KEYS, where=where)
        ratio: float | None = base.failure_ratio
        if "failure_ratio" in data:
            raw = data["failure_ratio"]
            ratio = (
                None
                if raw in (None, "none")
                else read_number(data, "failure_ratio", 0.5, where=where, minimum=0.01, maximum=1.0)
            )
        window = read_int(data, "window", base.window, where=where, minimum=1)
        min_calls = read_int(data, "min_calls", min(base.min_calls, window), where=where, minimum=1)
        if min_calls > window:
            raise DeliveryConfigError(where, "min_calls", min_calls, f"must not exceed window ({window})")
        return cls(
            consecutive_failures=read_int(
                data, "consecutive_failures", base.consecutive_failures, where=where, minimum=1
            ),
            failure_ratio=ratio,
            window=window,
            min_calls=min_calls,
            cool_down=read_duration(data, "cool_down", base.cool_down, where=where, minimum=0.001),
        )


_BREAKER_KEYS: Final = frozenset(BreakerSettings.__dataclass_fields__)


class CircuitBreaker:
    """One destination's breaker. Not thread-safe; meant for one asyncio loop."""

    def __init__(self, settings: BreakerSettings | None = None, *, clock: Clock = time.monotonic,
                 on_change: StateObserver | None = None) -> None:
        self.settings = settings if settings is not None else BreakerSettings()
        self._clock = clock
        self._on_change = on_change
        self._reported = BreakerState.CLOSED
        self._open = False  # open or half-open: the cool-down start is in _open_until
        self._open_until = 0.0
        self._opened_since: float | None = None
        self._probe_since: float | None = None
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.settings.window)  # True = failure

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value!r}, opened_since={self._opened_since!r})"

    @property
    def state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open`` as of the clock's current reading."""
        if not self._open:
            return BreakerState.CLOSED
        if self._clock() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def opened_since(self) -> float | None:
        """Clock reading when the breaker left *closed*; ``None`` while closed."""
        return self._opened_since

    def open_for(self) -> float:
        """Seconds since the breaker left *closed* (0 while closed); for readiness checks."""
        return 0.0 if self._opened_since is None else max(0.0, self._clock() - self._opened_since)

    def retry_at(self) -> float | None:
        """Earliest clock reading at which :meth:`allow` may say yes; ``None`` while closed.

        The outbox worker uses it to postpone a destination's messages without spending an attempt.
        """
        if not self._open:
            return None
        if self._probe_since is not None:
            return max(self._open_until, self._probe_since + self.settings.cool_down)
        return self._open_until

    def allow(self) -> bool:
        """May a delivery go out now? In half-open this hands out the single probe."""
        if not self._open:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        probe_lost = self._probe_since is not None and now - self._probe_since >= self.settings.cool_down
        if self._probe_since is None or probe_lost:
            self._probe_since = now
            self._report(BreakerState.HALF_OPEN)
            return True
        return False

    def record_success(self) -> None:
        """The destination answered (delivered, or refused on business grounds)."""
        if self._open:
            if self._probe_since is None:
                return  # a straggler from before the breaker opened; the probe decides
            self._close()
            return
        self._consecutive = 0
        self._recent.append(False)

    def record_failure(self) -> None:
        """A transient failure: connection, timeout, 5xx, throttled."""
        if self._open:
            if self._probe_since is None:
                return  # a straggler while open; already counted
            self._trip(self._clock())  # the probe failed: another cool-down
            return
        self._consecutive += 1
        self._recent.append(True)
        if self._consecutive >= self.settings.consecutive_failures or self._ratio_tripped():
            now = self._clock()
            self._opened_since = now
            self._trip(now)

    def record(self, outcome: Delivered[object] | DeliveryError | Refusal) -> None:
        """Record an attempt's outcome by its type (see the module docstring for the mapping)."""
        if isinstance(outcome, Delivered | Refusal | Undeliverable):
            self.record_success()
        elif isinstance(outcome, TransientDeliveryError):
            self.record_failure()
        else:
            raise TypeError(f"unclassified delivery outcome {type(outcome).__name__}")

    def _ratio_tripped(self) -> bool:
        ratio = self.settings.failure_ratio
        if ratio is None or len(self._recent) < self.settings.min_calls:
            return False
        return sum(self._recent) >= ratio * len(self._recent)

    def _trip(self, now: float) -> None:
        self._open = True
        self._open_until = now + self.settings.cool_down
        self._probe_since = None
        self._report(BreakerState.OPEN)

    def _close(self) -> None:
        self._open = False
        self._opened_since = None
        self._probe_since = None
        self._consecutive = 0
        self._recent.clear()
        self._report(BreakerState.CLOSED)

    def _report(self, state: BreakerState) -> None:
        """Tell the observer about a change of the reported state (not about a repeat of the same one)."""
        if state is self._reported:
            return
        self._reported = state
        if self._on_change is not None:
            self._on_change(state)


class BreakerRegistry:
    """The breakers of one gateway instance, keyed by destination, created on first use.

    ``overrides`` gives some destinations their own settings (a platform known to restart slowly may
    want a longer cool-down); the others share ``settings``. Owned by the app, never a module global.
    ``on_change(destination, state)`` hears every breaker's state changes as they happen; it may be set after
    construction (the app builds its metrics after its breakers) and is looked up at each change.
    """

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        overrides: Mapping[str, BreakerSettings] | None = None,
        on_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self._settings = settings if settings is not None else BreakerSettings()
        self._clock = clock
        self._overrides = dict(overrides or {})
        self._breakers: dict[str, CircuitBreaker] = {}
        self.on_change = on_change

    def get(self, destination: str) -> CircuitBreaker:
        """The breaker for ``destination``, created closed on first use."""
        breaker = self._breakers.get(destination)
        if breaker is None:
            settings = self._overrides.get(destination, self._settings)
            breaker = self._breakers[destination] = CircuitBreaker(
                settings, clock=self._clock, on_change=lambda state: self._changed(destination, state)
            )
        return breaker

    def _changed(self, destination: str, state: BreakerState) -> None:
        if self.on_change is not None:
            self.on_change(destination, state)

    __getitem__ = get

    def __contains__(self, destination: object) -> bool:
        return destination in self._breakers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._breakers))

    def __len__(self) -> int:
        return len(self._breakers)

    def states(self) -> dict[str, BreakerState]:
        """Every known destination's state, for a metrics gauge."""
        return {name: breaker.state for name, breaker in sorted(self._breakers.items())}

    def stuck_open(self, longer_than: float) -> list[str]:
        """Destinations whose breaker left *closed* more than ``longer_than`` seconds ago (readiness)."""
        return [name for name, breaker in sorted(self._breakers.items()) if breaker.open_for() > longer_than]
