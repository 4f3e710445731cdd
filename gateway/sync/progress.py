"""Showing a running sync: a bar for a person at a terminal, plain lines or JSON lines for a job's log.

The sync calls a ``ProgressSink`` with a :class:`Progress` after every confirmed batch (and once at the end, with
``final=True``). Sinks decide how often to write: the bar redraws at most ten times a second, lines and JSON every
``interval`` seconds, so a fast run does not flood a log. Sinks write to a text stream the caller gives
(stderr in the CLI), never to stdout, which carries the report. Nothing here names an item.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

__all__ = ["BarSink", "JsonLinesSink", "LinesSink", "Progress", "ProgressSink", "make_sink"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run stands: items handled (confirmed or unchanged) and an estimate of those still to read."""

    done: int
    remaining: int
    counts: Mapping[str, int]
    batches: int
    elapsed: float
    final: bool = False

    @property
    def ratio(self) -> float:
        total = self.done + self.remaining
        return 1.0 if total == 0 else min(self.done / total, 1.0)

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


ProgressSink = Callable[[Progress], None]


class _Throttled:
    def __init__(self, stream: TextIO, clock: Clock, interval: float) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self._last = float("-inf")

    def due(self, progress: Progress) -> bool:
        now = self.clock()
        if progress.final or now - self._last >= self.interval:
            self._last = now
            return True
        return False


class BarSink(_Throttled):
    """``[#######.......]  48%  68,000/142,000 items  2,310/s  eta 32s`` redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, clock: Clock, width: int = 30) -> None:
        super().__init__(stream, clock, 0.1)
        self.width = width

    def __call__(self, progress: Progress) -> None:
        if not self.due(progress):
            return
        filled = int(progress.ratio * self.width)
        rate = progress.rate
        eta = f"eta {progress.remaining / rate:,.0f}s" if rate > 0 and not progress.final else ""
        total = progress.done + progress.remaining
        line = (
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {progress.ratio:4.0%}  "
            f"{progress.done:,}/{total:,} items  {rate:,.0f}/s  {eta}"
        )
        self.stream.write(line.ljust(90))
        if progress.final:
            self.stream.write("\n")
        self.stream.flush()


class LinesSink(_Throttled):
    """One plain line every ``interval`` seconds: ``sync 48% 68000/142000 created=… refused=…``."""

    def __init__(self, stream: TextIO, clock: Clock, interval: float = 5.0) -> None:
        super().__init__(stream, clock, interval)

    def __call__(self, progress: Progress) -> None:
        if not self.due(progress):
            return
        counts = " ".join(f"{k}={v}" for k, v in progress.counts.items())
        total = progress.done + progress.remaining
        self.stream.write(
            f"sync {progress.ratio:.0%} {progress.done}/{total} items {progress.batches} batches "
            f"{progress.rate:.0f}/s {counts}{' done' if progress.final else ''}\n"
        )
        self.stream.flush()


class JsonLinesSink(_Throttled):
    """One JSON object a line, for log collectors."""

    def __init__(self, stream: TextIO, clock: Clock, interval: float = 5.0) -> None:
        super().__init__(stream, clock, interval)

    def __call__(self, progress: Progress) -> None:
        if not self.due(progress):
            return
        self.stream.write(
            json.dumps(
                {
                    "event": "sync_progress",
                    "done": progress.done,
                    "remaining": progress.remaining,
                    "ratio": round(progress.ratio, 4),
                    "batches": progress.batches,
                    "elapsed": round(progress.elapsed, 3),
                    "items_per_second": round(progress.rate, 1),
                    "counts": dict(progress.counts),
                    "final": progress.final,
                }
            )
            + "\n"
        )
        self.stream.flush()


def make_sink(kind: str | None, stream: TextIO, clock: Clock, interval: float = 5.0) -> ProgressSink | None:
    """``bar``, ``lines``, ``json`` or ``none``; ``None`` picks the bar on a terminal and lines elsewhere."""
    if kind is None:
        kind = "bar" if stream.isatty() else "lines"
    if kind == "bar":
        return BarSink(stream, clock)
    if kind == "lines":
        return LinesSink(stream, clock, interval)
    if kind == "json":
        return JsonLinesSink(stream, clock, interval)
    if kind == "none":
        return None
    raise ValueError(f"unknown progress kind {kind!r}: use bar, lines, json or none")
