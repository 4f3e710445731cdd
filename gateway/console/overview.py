"""The overview's rows: one per platform, from the gateway's own metrics, their history and the store's outbox.

The counts are read from the same Prometheus registry ``/metrics`` exposes, through :mod:`.history` (so the console
and a dashboard never disagree: on the day the gateway started, "today" is the counter itself), except the outbox's
pending/dead counts and oldest age, read from the store at the moment the page is drawn. A cell is red where an
alert of ops/prometheus/alerts.yml would fire at that value (before its ``for:``); the thresholds below are those
rules' (a test compares them with the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup
from prometheus_client import CollectorRegistry

from gateway.store.api import DestinationStats

from .chart import chart_svg
from .history import History, Sample

__all__ = [
    "BREAKER_ALERT",
    "BREAKER_NAMES",
    "CERT_DAYS_ALERT",
    "OLDEST_AGE_ALERT",
    "KeyDays",
    "PlatformRow",
    "key_days",
    "overview_rows",
]

BREAKER_NAMES: Final = {0.0: "closed", 1.0: "half-open", 2.0: "open"}
OLDEST_AGE_ALERT: Final = 900.0  # TongbanOutboxOldestAgeHigh: tongban_outbox_oldest_age_seconds > 900
CERT_DAYS_ALERT: Final = 30.0  # TongbanCertificateExpiringSoon: tongban_key_expiry_seconds < 30 * 86400
BREAKER_ALERT: Final = 1.0  # TongbanBreakerOpenLong: tongban_breaker_state >= 1
# TongbanDeadLettersRising fires on any dead letter (> 0): a dead count above zero is red


@dataclass(frozen=True, slots=True)
class KeyDays:
    key_id: str
    days: float

    @property
    def red(self) -> bool:
        return self.days < CERT_DAYS_ALERT


@dataclass(frozen=True, slots=True)
class PlatformRow:
    platform: str
    inbound_rate: float | None  # per minute, last 5 minutes
    outbound_rate: float | None
    accepted: int  # today
    refused: int
    delivered: int
    dead_today: int
    pending: int  # now, in the outbox
    dead: int
    oldest_pending: float | None
    breaker: str
    breaker_value: float
    keys: tuple[KeyDays, ...]
    chart: Markup

    @property
    def cert_days(self) -> float | None:
        return min((k.days for k in self.keys), default=None)

    @property
    def red(self) -> frozenset[str]:
        """The cells an alert would fire on."""
        cells = set()
        if self.oldest_pending is not None and self.oldest_pending > OLDEST_AGE_ALERT:
            cells.add("oldest_pending")
        if self.breaker_value >= BREAKER_ALERT:
            cells.add("breaker")
        if any(k.red for k in self.keys):
            cells.add("cert_days")
        if self.dead:
            cells.add("dead")
        if self.dead_today:
            cells.add("dead_today")
        return frozenset(cells)


def key_days(registry: CollectorRegistry) -> dict[str, list[KeyDays]]:
    """Days left per certificate and key (``tongban_key_expiry_seconds{platform, key_id}``), soonest first."""
    out: dict[str, list[KeyDays]] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "tongban_key_expiry_seconds" and "platform" in s.labels:
                out.setdefault(s.labels["platform"], []).append(KeyDays(s.labels.get("key_id", "-"), s.value / 86400))
    for keys in out.values():
        keys.sort(key=lambda k: (k.days, k.key_id))
    return out


def _gauge(registry: CollectorRegistry, sample: str, by: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == sample and by in s.labels:
                out[s.labels[by]] = max(out.get(s.labels[by], s.value), s.value)
    return out


def overview_rows(
    platforms: Iterable[str],
    registry: CollectorRegistry,
    stats: Mapping[str, DestinationStats],
    history: History,
    now: Sample,
    chart_title: str,
) -> list[PlatformRow]:
    breakers = _gauge(registry, "tongban_breaker_state", "destination")
    keys = key_days(registry)
    rows = []
    for pid in platforms:
        s = stats.get(pid)
        breaker = breakers.get(pid, 0.0)
        rows.append(
            PlatformRow(
                platform=pid,
                inbound_rate=history.rate("inbound", pid, now),
                outbound_rate=history.rate("outbound", pid, now),
                accepted=int(history.today("accepted", pid, now)),
                refused=int(history.today("refused", pid, now)),
                delivered=int(history.today("delivered", pid, now)),
                dead_today=int(history.today("dead", pid, now)),
                pending=(s.pending + s.delivering) if s else 0,
                dead=s.dead if s else 0,
                oldest_pending=s.oldest_pending_age if s else None,
                breaker=BREAKER_NAMES.get(breaker, "open"),
                breaker_value=breaker,
                keys=tuple(keys.get(pid, ())),
                chart=chart_svg(
                    pid,
                    history.per_minute("inbound", pid, now),
                    history.per_minute("outbound", pid, now),
                    f"{pid}: {chart_title}",
                ),
            )
        )
    return rows
