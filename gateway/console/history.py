"""The last hour of each platform's traffic, sampled from the gateway's own counters: the overview's rates, its
"today" counts and its charts.

Why sampling the registry: the counters behind ``/metrics`` only grow, and a rate or a day's count is a difference
of two readings. Prometheus keeps those readings; the console, which must answer without it, keeps its own: every
``STEP`` seconds one :class:`Sample` of the per-platform sums, for ``KEEP`` seconds. A day's baseline is the first
sample taken on that day (Beijing time, README §8); before the process's first day changes, the baseline is zero,
because the counters started at zero with the process. So on the day a gateway starts, "today" is exactly what
``/metrics`` says.

Pure apart from :meth:`History.run` (the sampling loop, sleep injected): tests call :meth:`History.sample` with a
fake clock and a registry of their own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry

from gateway.model.timefmt import BEIJING

__all__ = ["COUNTERS", "KEEP", "RATE_WINDOW", "STEP", "History", "Sample", "sums"]

STEP: Final = 10.0
KEEP: Final = 3600.0
RATE_WINDOW: Final = 300.0
#: name in a sample -> (counter sample, the label naming the platform, labels it must have)
COUNTERS: Final[Mapping[str, tuple[str, str, Mapping[str, str]]]] = {
    "inbound": ("tongban_requests_total", "platform", {}),
    "accepted": ("tongban_requests_total", "platform", {"outcome": "accepted"}),
    "refused": ("tongban_refusals_total", "platform", {}),
    "outbound": ("tongban_delivery_attempts_total", "destination", {}),
    "delivered": ("tongban_delivery_attempts_total", "destination", {"outcome": "delivered"}),
    "dead": ("tongban_dead_letters_total", "destination", {}),
}


def sums(registry: CollectorRegistry) -> dict[str, dict[str, float]]:
    """Per counter of :data:`COUNTERS`, the sum of its samples by platform, in one pass over the registry."""
    out: dict[str, dict[str, float]] = {name: {} for name in COUNTERS}
    for metric in registry.collect():
        for s in metric.samples:
            for name, (sample, by, match) in COUNTERS.items():
                if s.name == sample and by in s.labels and all(s.labels.get(k) == v for k, v in match.items()):
                    per = out[name]
                    per[s.labels[by]] = per.get(s.labels[by], 0.0) + s.value
    return out


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, BEIJING).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    values: dict[str, dict[str, float]]

    def get(self, name: str, platform: str) -> float:
        return self.values.get(name, {}).get(platform, 0.0)


class History:
    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float]) -> None:
        self._registry = registry
        self._clock = clock
        self._samples: deque[Sample] = deque(maxlen=int(KEEP / STEP) + 2)
        self._baseline: Sample | None = None  # None: the process's first day, whose baseline is zero

    def sample(self) -> Sample:
        """Read the counters now and keep the reading (the day's baseline too, when the day has changed)."""
        now = self._clock()
        taken = Sample(now, sums(self._registry))
        last = self._samples[-1] if self._samples else None
        if last is not None and _day(last.at) != _day(now):
            self._baseline = taken
        self._samples.append(taken)
        while self._samples and self._samples[0].at < now - KEEP - STEP:
            self._samples.popleft()
        return taken

    def today(self, name: str, platform: str, current: Sample) -> float:
        """Today's count of ``name`` for ``platform`` at the ``current`` reading (one :meth:`sample` returned)."""
        base = self._baseline
        return current.get(name, platform) - (base.get(name, platform) if base is not None else 0.0)

    def rate(self, name: str, platform: str, current: Sample, window: float = RATE_WINDOW) -> float | None:
        """Per minute over the last ``window`` seconds (or what history there is); None with no earlier reading."""
        earlier = [s for s in self._samples if current.at - window <= s.at < current.at]
        if not earlier:
            return None
        first = earlier[0]
        return (current.get(name, platform) - first.get(name, platform)) * 60.0 / (current.at - first.at)

    def per_minute(self, name: str, platform: str, current: Sample, minutes: int = 60) -> list[float]:
        """Counts per minute over the last ``minutes`` minutes before ``current``, oldest first (0 without
        history)."""
        points = list(self._samples)

        def reading(t: float) -> Sample | None:
            found = None
            for s in points:
                if s.at > t:
                    break
                found = s
            return found

        out = []
        for i in range(minutes, 0, -1):
            start, end = current.at - i * 60.0, current.at - (i - 1) * 60.0
            last = reading(end)
            first = reading(start) or next((s for s in points if start < s.at <= end), None)
            out.append(max(last.get(name, platform) - first.get(name, platform), 0.0) if first and last else 0.0)
        return out

    async def run(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Sample every ``STEP`` seconds until cancelled."""
        while True:
            self.sample()
            await sleep(STEP)
