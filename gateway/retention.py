"""Retention: what the gateway keeps, for how long, and the job in the server that removes the rest.

Why a policy per kind: each table keeps rows for its own reason, and that reason has its own end.

- **nonces** (replay guard) matter only inside their window; each row carries its expiry, so it goes once expired
  (plus ``nonces_after``, a grace for clock steps).
- **delivered outbox rows** hold the canonical record (encrypted, :mod:`gateway.sealed_store`) only for the
  operator's view of recent deliveries: they go ``delivered_after`` their delivery. Pending and dead rows are
  never touched (dead letters wait for an operator).
- **idempotency records** (the ``inbound`` table) answer repeats with the first receipt (README §9). A platform that
  documents a repeat horizon (g60.md §7: a ``MessageId`` repeated within 7 days) needs them that long and no
  longer; for the others the documents give none, so they are kept unless configured
  (``[retention.idempotency_after]``, never below a documented horizon). ``case`` records also tell where a later
  status event goes back to (the case's origin, :mod:`gateway.pipeline.routing`), so they are kept until
  ``case_records_after`` (default: kept), and never before the platform's idempotency horizon.
- **message-log entries** go ``message_log_after`` their seal (default: ``[message_log] retention_days``), whole
  sealed segments at a time: the log moves its anchor to the last removed seal and keeps that seal, signature and
  all, so ``gateway log verify`` keeps verifying from there and can tell a cut made in its time from an anchor
  moved by hand or too early (:meth:`gateway.msglog.api.MessageLog.purge`, :func:`gateway.msglog.sealing.check_cut`).

The job runs at start and every ``interval``; each run logs one line with what it removed and counts it in
``tongban_retention_removed_total{kind}``. A kind that fails (the database away) is logged and counted in
``tongban_retention_failures_total{kind}`` and tried again next run; the others still run.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.delivery.settings import parse_duration
from gateway.dialects import dialect as declared_dialect
from gateway.errors import ConfigError
from gateway.msglog.api import MessageLog
from gateway.store.api import IdempotencyRecords, Nonces, Outbox

__all__ = [
    "KINDS",
    "RetainedStore",
    "RetentionJob",
    "RetentionMetrics",
    "RetentionSettings",
    "read_retention",
]

log = logging.getLogger("gateway.retention")

DAY: Final = 86400.0
#: What the job removes, as the ``kind`` label of its metrics.
KINDS: Final = ("nonces", "delivered", "idempotency", "message_log")
#: Idempotency records that serve repeats only (``case`` records also route status events: see the docstring).
_REPEAT_ONLY_KINDS: Final = ("status", "evaluation")
_KEEP: Final = "keep"
_KEYS: Final = frozenset(
    {"interval", "nonces_after", "delivered_after", "case_records_after", "message_log_after", "idempotency_after"}
)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Seconds each kind is kept; None keeps it. ``idempotency_after`` is per platform id (absent: kept)."""

    interval: float = 3600.0
    nonces_after: float = 0.0
    delivered_after: float | None = 7 * DAY
    idempotency_after: Mapping[str, float] = field(default_factory=dict)
    case_records_after: float | None = None
    message_log_after: float | None = None


def _duration(
    raw: Mapping[str, Any], key: str, default: float | None, source: str, *, keep: bool = True
) -> float | None:
    if key not in raw:
        return default
    value = raw[key]
    if keep and value == _KEEP:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        hint = ' or "keep"' if keep else ""
        raise ConfigError(
            source,
            f"retention.{key}",
            f"{value!r} is not a duration",
            f'write seconds or e.g. "30s", "12h", "7d"{hint}',
        )
    return seconds


def read_retention(
    raw: Any, dialects: Mapping[str, str], source: str, message_log_days: float | None = None
) -> RetentionSettings:
    """``[retention]`` checked against the platforms (``dialects``: platform id -> dialect).

    A platform's idempotency horizon defaults to its dialect's documented one; a configured horizon below the
    documented one is refused (a repeat inside it would be delivered twice).
    """
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError(source, "retention", "must be a table", "write [retention] with durations per kind")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            source, f"retention.{unknown[0]}", "is not a retention setting", f"use {', '.join(sorted(_KEYS))}"
        )
    interval = _duration(raw, "interval", 3600.0, source, keep=False)
    if interval is None or interval <= 0 or not math.isfinite(interval):
        raise ConfigError(
            source, "retention.interval", f"{raw.get('interval')!r} is not a duration > 0", 'write e.g. "1h"'
        )
    per = raw.get("idempotency_after", {})
    if not isinstance(per, Mapping):
        raise ConfigError(
            source,
            "retention.idempotency_after",
            "must be a table of platform ids",
            'write [retention.idempotency_after] with e.g. hefei = "30d"',
        )
    horizons: dict[str, float] = {}
    for pid, dialect in dialects.items():
        documented = declared_dialect(dialect).repeat_horizon
        if documented is not None:
            horizons[pid] = documented
    for pid in per:
        if pid not in dialects:
            raise ConfigError(
                source,
                f"retention.idempotency_after.{pid}",
                "is not a configured platform",
                f"use one of {', '.join(sorted(dialects))}",
            )
        seconds = _duration(per, pid, None, f"{source} [retention.idempotency_after]")
        documented = declared_dialect(dialects[pid]).repeat_horizon
        if seconds is None:
            horizons.pop(pid, None)
            continue
        if documented is not None and seconds < documented:
            raise ConfigError(
                source,
                f"retention.idempotency_after.{pid}",
                f"{per[pid]!r} is shorter than the {documented / DAY:g} days the platform documents",
                f'write at least "{documented / DAY:g}d"',
            )
        horizons[pid] = seconds
    default_log = None if message_log_days is None else message_log_days * DAY
    return RetentionSettings(
        interval=interval,
        nonces_after=_duration(raw, "nonces_after", 0.0, source, keep=False) or 0.0,
        delivered_after=_duration(raw, "delivered_after", 7 * DAY, source),
        idempotency_after=horizons,
        case_records_after=_duration(raw, "case_records_after", None, source),
        message_log_after=_duration(raw, "message_log_after", default_log, source),
    )


class RetentionMetrics:
    """``tongban_retention_removed_total{kind}``, ``..._failures_total{kind}`` and the last run's time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.removed = Counter(
            "tongban_retention_removed", "Rows removed by the retention job, by kind", ["kind"], registry=registry
        )
        self.failures = Counter(
            "tongban_retention_failures", "Retention runs that failed for a kind, by kind", ["kind"], registry=registry
        )
        self.last_run = Gauge(
            "tongban_retention_last_run_timestamp_seconds",
            "When the retention job last finished a run (Unix seconds)",
            registry=registry,
            multiprocess_mode="max",  # serve --workers: the latest run of any worker
        )
        for kind in KINDS:  # every series exists from the start, so increase() sees the first removal
            self.removed.labels(kind=kind)
            self.failures.labels(kind=kind)


class RetainedStore(Outbox, IdempotencyRecords, Nonces, Protocol):
    """The concerns retention deletes from (delivered messages, idempotency records, nonces); not sync state or
    operator accounts, which it leaves alone."""


class RetentionJob:
    """Applies :class:`RetentionSettings` to the store and the message log; :meth:`run` is the server's task."""

    def __init__(
        self,
        store: RetainedStore,
        settings: RetentionSettings,
        clock: Callable[[], float],
        *,
        msglog: MessageLog | None = None,
        metrics: RetentionMetrics | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.msglog = msglog
        self.metrics = metrics

    async def run_once(self) -> dict[str, int]:
        """One pass over every kind; returns what was removed (a failed kind is absent and logged)."""
        now = self.clock()
        steps: dict[str, Callable[[], Any]] = {
            "nonces": lambda: self.store.purge_nonces(now - self.settings.nonces_after),
            "delivered": lambda: self._delivered(now),
            "idempotency": lambda: self._idempotency(now),
            "message_log": lambda: self._message_log(now),
        }
        removed: dict[str, int] = {}
        for kind, step in steps.items():
            try:
                removed[kind] = int(await step())
            except Exception as exc:  # one kind failing must not keep the others from running
                log.warning(
                    "retention of %s failed: %s",
                    kind,
                    type(exc).__name__,
                    extra={"kind": kind, "error": type(exc).__name__},
                )
                if self.metrics is not None:
                    self.metrics.failures.labels(kind=kind).inc()
                continue
            if self.metrics is not None:
                self.metrics.removed.labels(kind=kind).inc(removed[kind])
        if self.metrics is not None:
            self.metrics.last_run.set(self.clock())
        log.info(
            "retention run removed %s",
            ", ".join(f"{k}={v}" for k, v in removed.items()) or "nothing",
            extra={"removed": removed},
        )
        return removed

    async def _delivered(self, now: float) -> int:
        after = self.settings.delivered_after
        return 0 if after is None else await self.store.purge_delivered(now - after)

    async def _idempotency(self, now: float) -> int:
        total = 0
        cases = self.settings.case_records_after
        for platform, horizon in sorted(self.settings.idempotency_after.items()):
            total += await self.store.purge_inbound(platform, _REPEAT_ONLY_KINDS, now - horizon)
            if cases is not None:
                total += await self.store.purge_inbound(platform, ("case",), now - max(horizon, cases))
        return total

    async def _message_log(self, now: float) -> int:
        after = self.settings.message_log_after
        if self.msglog is None or after is None:
            return 0
        return (await self.msglog.purge(now - after)).entries

    async def run(self, stop: asyncio.Event) -> None:
        """Run at once, then every ``interval`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # never kill the server's task; the next run tries again
                log.exception("retention run failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.interval)
            except TimeoutError:
                continue
