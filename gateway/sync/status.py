"""What the last catalogue sync run did, kept in the store so that ``gateway serve`` can export it between runs.

Why: ``gateway sync`` is a job. Metrics that live only in the job are absent exactly when the job has not run, so
an alert on "no successful sync for a day" could never fire. Each run (not a dry run) therefore saves its status
beside its checkpoint, in the checkpoint table under the job ``catalogue-status:<source>><target>`` as JSON:
``ended_at`` (Unix seconds), ``outcome`` (``ok``: everything sent; ``refused``: the run reached the end but the
target refused items; ``aborted``: the run stopped early), ``counts`` (the run's item counts by outcome) and
``last_success`` (when a run last reached the end of the catalogue, carried over from earlier runs; 0 when none
has).

``gateway serve`` reads the statuses of the links listed in ``[sync] links`` (``["hefei>yrd-map"]``) and exports
them per source platform (:func:`export_statuses`): a listed link that never ran exports ``last_success`` 0, so
``TongbanCatalogueSyncStale`` fires for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError
from gateway.observability.metrics import GatewayMetrics
from gateway.store.api import SyncState

from .report import OUTCOMES, SyncReport
from .state import link_name

__all__ = [
    "SyncStatus",
    "export_statuses",
    "next_status",
    "read_statuses",
    "status_job",
    "sync_links",
    "write_status",
]

log = logging.getLogger("gateway.sync")


def status_job(source: str, target: str) -> str:
    """The checkpoint-table key of one link's status."""
    return f"catalogue-status:{link_name(source, target)}"


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """The last run of one link (see the module docstring). ``ended_at`` 0: no run recorded."""

    source: str
    target: str
    ended_at: float = 0.0
    outcome: str = "none"
    last_success: float = 0.0
    counts: Mapping[str, int] = field(default_factory=dict)

    def dumps(self) -> str:
        return json.dumps(
            {
                "ended_at": self.ended_at,
                "outcome": self.outcome,
                "last_success": self.last_success,
                "counts": {k: int(v) for k, v in self.counts.items()},
            },
            sort_keys=True,
        )

    @classmethod
    def loads(cls, source: str, target: str, text: str | None) -> SyncStatus:
        """The saved status, or an empty one when none was saved or it cannot be read."""
        if text is None:
            return cls(source, target)
        try:
            data: Any = json.loads(text)
            counts = {str(k): int(v) for k, v in dict(data.get("counts", {})).items() if k in OUTCOMES}
            return cls(
                source, target, float(data["ended_at"]), str(data["outcome"]), float(data["last_success"]), counts
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning(
                "unreadable catalogue sync status; treated as no run", extra={"source": source, "target": target}
            )
            return cls(source, target)


def next_status(previous: SyncStatus, report: SyncReport, now: float) -> SyncStatus:
    """The status after ``report``'s run ended at ``now``: pure."""
    if not report.completed:
        outcome = "aborted"
    elif report.counts.get("refused", 0):
        outcome = "refused"
    else:
        outcome = "ok"
    last_success = now if report.completed else previous.last_success
    return SyncStatus(report.source, report.target, now, outcome, last_success, dict(report.counts))


async def write_status(store: SyncState, report: SyncReport, now: float) -> SyncStatus:
    """Save the status of the run ``report`` describes (the caller skips dry runs)."""
    job = status_job(report.source, report.target)
    previous = SyncStatus.loads(report.source, report.target, await store.get_checkpoint(job))
    status = next_status(previous, report, now)
    await store.put_checkpoint(job, status.dumps())
    return status


def sync_links(raw: Mapping[str, Any], source: str, platforms: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``[sync] links``: the catalogue links the operators expect to run, as (source, target) platform ids."""
    table = raw.get("sync", {})
    if not isinstance(table, Mapping):
        raise ConfigError(source, "sync", "must be a table", 'write [sync] with links = ["hefei>yrd-map"]')
    links = table.get("links", [])
    known = set(platforms)
    if not isinstance(links, list):
        raise ConfigError(source, "sync.links", f"{links!r} is not a list", 'write links = ["hefei>yrd-map"]')
    out: list[tuple[str, str]] = []
    for i, text in enumerate(links):
        parts = text.split(">") if isinstance(text, str) else []
        if len(parts) != 2 or not all(p in known for p in parts) or parts[0] == parts[1]:
            raise ConfigError(
                source,
                f"sync.links[{i}]",
                f"{text!r} is not <source>><target> of two platforms",
                f"use configured platform ids: {', '.join(sorted(known))}",
            )
        out.append((parts[0], parts[1]))
    return tuple(out)


async def read_statuses(store: SyncState, links: Iterable[tuple[str, str]]) -> list[SyncStatus]:
    return [SyncStatus.loads(s, t, await store.get_checkpoint(status_job(s, t))) for s, t in links]


def export_statuses(metrics: GatewayMetrics, statuses: Iterable[SyncStatus]) -> None:
    """Per source platform: the oldest ``last_success`` of its links (stale if any link is), the latest run's end,
    success only when every link's last run was ``ok``, and the item counts of its links' last runs summed."""
    by_source: dict[str, list[SyncStatus]] = {}
    for status in statuses:
        by_source.setdefault(status.source, []).append(status)
    for source, group in by_source.items():
        items = {o: sum(s.counts.get(o, 0) for s in group) for o in OUTCOMES}
        metrics.set_sync_state(
            source,
            ended_at=max(s.ended_at for s in group),
            ok=all(s.outcome == "ok" for s in group),
            last_success=min(s.last_success for s in group),
            items=items,
        )
