"""Exponential backoff with jitter: one pure formula shared by the outbox schedule and the short retry.

For the ``n``-th retry (``n`` >= 1, the wait *after* the ``n``-th failed attempt)::

    nominal(n) = min(max_delay, base * factor ** (n - 1))
    delay(n)   = nominal(n) * (1 - jitter) + U(0, 1) * nominal(n) * jitter

``jitter`` is a fraction in [0, 1] that chooses the family ("Exponential Backoff And Jitter", AWS
Architecture Blog, 2015):

- ``jitter = 1``: *full jitter*, the delay is uniform in ``[0, nominal]``; best at spreading a crowd
  of gateways that all saw the same platform fall over at the same moment;
- ``jitter = 0.5``: *equal jitter*, uniform in ``[nominal / 2, nominal]``; keeps a guaranteed minimum
  wait while still spreading; the default;
- ``jitter = 0``: no jitter, exactly ``nominal`` (useful in tests and for a single gateway).

So every delay lies in ``[0, max_delay]``, and the lower bound ``nominal * (1 - jitter)`` never
decreases from one retry to the next (``factor`` >= 1). The random source is a parameter: tests pass
a seeded ``random.Random``; nothing here reads a clock or a global generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Backoff", "RandomSource"]


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in ``[0, 1)``, such as ``random.Random(seed)``."""

    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff parameters; validated on construction so a bad value fails at start-up."""

    base: float
    factor: float
    max_delay: float
    jitter: float

    def __post_init__(self) -> None:
        # Explicit checks, not asserts: they must survive ``python -O``.
        if not (math.isfinite(self.base) and self.base >= 0):
            raise ValueError(f"backoff base must be a finite number of seconds >= 0, got {self.base!r}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise ValueError(f"backoff factor must be >= 1 so waits never shrink, got {self.factor!r}")
        if not (math.isfinite(self.max_delay) and self.max_delay >= self.base):
            raise ValueError(f"backoff max_delay must be >= base ({self.base!r}), got {self.max_delay!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be a fraction in [0, 1], got {self.jitter!r}")

    def nominal(self, retry: int) -> float:
        """The un-jittered, capped delay before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry!r}")
        try:
            grown = self.base * self.factor ** (retry - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, grown)

    def lower_bound(self, retry: int) -> float:
        """The shortest delay jitter can produce for this retry; non-decreasing in ``retry``."""
        return self.nominal(retry) * (1 - self.jitter)

    def delay(self, retry: int, rng: RandomSource) -> float:
        """A jittered delay in ``[lower_bound(retry), nominal(retry)]``."""
        nominal = self.nominal(retry)
        lower = nominal * (1 - self.jitter)
        # Clamped so float rounding can never step outside [lower_bound, nominal].
        return max(lower, min(nominal, lower + rng.random() * (nominal - lower)))
