"""The overview's rows: one per platform, from the gateway's own metrics and the store's live outbox figures.

The numbers are read from the same Prometheus registry ``/metrics`` exposes (so the console and a dashboard never
disagree), except the outbox's pending/dead counts and oldest age, read from the store at the moment the page is
drawn. A cell is red where an alert of ops/prometheus/alerts.yml would fire at that value (before its ``for:``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry

from gateway.store.api import DestinationStats

__all__ = ["BREAKER_NAMES", "PlatformRow", "overview_rows", "sample_sums"]

BREAKER_NAMES: Final = {0.0: "closed", 1.0: "half-open", 2.0: "open"}
OLDEST_AGE_ALERT: Final = 900.0  # TongbanOutboxOldestAgeHigh
CERT_DAYS_ALERT: Final = 30.0  # TongbanCertificateExpiringSoon


@dataclass(frozen=True, slots=True)
class PlatformRow:
    platform: str
    accepted: int
    refused: int
    delivered: int
    pending: int
    dead: int
    oldest_pending: float | None
    breaker: str
    cert_days: float | None

    @property
    def red(self) -> frozenset[str]:
        """The cells an alert would fire on."""
        cells = set()
        if self.oldest_pending is not None and self.oldest_pending > OLDEST_AGE_ALERT:
            cells.add("oldest_pending")
        if self.breaker != "closed":
            cells.add("breaker")
        if self.cert_days is not None and self.cert_days < CERT_DAYS_ALERT:
            cells.add("cert_days")
        if self.dead:
            cells.add("dead")
        return frozenset(cells)


def sample_sums(registry: CollectorRegistry, sample: str, by: str, **match: str) -> dict[str, float]:
    """Sum of ``sample`` grouped by the label ``by``, over the samples whose labels equal ``match``."""
    sums: dict[str, float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in match.items()) and by in s.labels:
                sums[s.labels[by]] = sums.get(s.labels[by], 0.0) + s.value
    return sums


def _min_by(registry: CollectorRegistry, sample: str, by: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == sample and by in s.labels:
                key = s.labels[by]
                out[key] = min(out.get(key, s.value), s.value)
    return out


def overview_rows(
    platforms: Iterable[str], registry: CollectorRegistry, stats: Mapping[str, DestinationStats]
) -> list[PlatformRow]:
    accepted = sample_sums(registry, "tongban_requests_total", "platform", outcome="accepted")
    refused = sample_sums(registry, "tongban_refusals_total", "platform")
    delivered = sample_sums(registry, "tongban_delivery_attempts_total", "destination", outcome="delivered")
    breakers = sample_sums(registry, "tongban_breaker_state", "destination")
    expiry = _min_by(registry, "tongban_key_expiry_seconds", "platform")
    rows = []
    for pid in platforms:
        s = stats.get(pid)
        rows.append(
            PlatformRow(
                platform=pid,
                accepted=int(accepted.get(pid, 0)),
                refused=int(refused.get(pid, 0)),
                delivered=int(delivered.get(pid, 0)),
                pending=(s.pending + s.delivering) if s else 0,
                dead=s.dead if s else 0,
                oldest_pending=s.oldest_pending_age if s else None,
                breaker=BREAKER_NAMES.get(breakers.get(pid, 0.0), "open"),
                cert_days=expiry[pid] / 86400 if pid in expiry else None,
            )
        )
    return rows
