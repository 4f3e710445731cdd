"""What a sync run did, for people (a table) and for jobs (JSON), and the exit status it implies.

Counts: ``created`` (sent for the first time: no hash stored for the item), ``updated`` (sent again because its
content hash changed), ``deleted`` (a ``CD_OPERATION`` ``D`` item sent as ``Action`` ``DELETE``), ``unchanged``
(read, same hash, not sent) and ``refused`` (the target refused the item, g60.md §9: listed with the item code, the
region and the README §10 code). Under ``--dry-run`` the first three are what *would* be sent. The counts are those
of this invocation; a resumed run reports what it did after resuming.

Refusals name items by their catalogue code and region only: catalogue items carry no personal data, and the
target's free-text detail is not kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["EXIT_ABORTED", "EXIT_OK", "EXIT_REFUSED", "OUTCOMES", "RefusedItem", "SyncReport"]

OUTCOMES = ("created", "updated", "deleted", "unchanged", "refused")
EXIT_OK = 0
EXIT_REFUSED = 2  # like ``gateway translate``: something was refused
EXIT_ABORTED = 3  # the run stopped early (source or target unavailable, a whole batch refused); resumable


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """One item the target refused (g60.md §9 ``Result Status="REJECTED"``)."""

    item_code: str
    region: str
    code: str
    where: str | None = None


@dataclass
class SyncReport:
    """Filled in by the sync as batches are confirmed; see the module docstring."""

    source: str
    target: str
    mode: str  # "full", "since", "incremental"
    since: datetime | None
    run: str
    resumed: bool = False
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    refusals: list[RefusedItem] = field(default_factory=list)
    refusals_listed_max: int = 1000
    pages: int = 0
    batches: int = 0
    seconds: float = 0.0
    completed: bool = False
    error: str | None = None  # why the run stopped early: a stable code and a short reason, no data

    def refuse(self, refusal: RefusedItem) -> None:
        self.counts["refused"] += 1
        if len(self.refusals) < self.refusals_listed_max:
            self.refusals.append(refusal)

    @property
    def sent(self) -> int:
        return self.counts["created"] + self.counts["updated"] + self.counts["deleted"] + self.counts["refused"]

    @property
    def read(self) -> int:
        return self.sent + self.counts["unchanged"]

    @property
    def exit_status(self) -> int:
        if self.error is not None:
            return EXIT_ABORTED
        return EXIT_REFUSED if self.counts["refused"] else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "mode": self.mode,
            "since": None if self.since is None else self.since.isoformat(),
            "run": self.run,
            "resumed": self.resumed,
            "dry_run": self.dry_run,
            "completed": self.completed,
            "error": self.error,
            "counts": dict(self.counts),
            "refusals": [
                {"item_code": r.item_code, "region": r.region, "code": r.code, "where": r.where}
                for r in self.refusals
            ],
            "refusals_truncated": self.counts["refused"] > len(self.refusals),
            "pages": self.pages,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(self.read / self.seconds, 1) if self.seconds > 0 else None,
            "exit_status": self.exit_status,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False, indent=2)

    def to_table(self) -> str:
        """A plain-text table (fixed-width, no colours) for a terminal or a log."""
        verb = "would be sent" if self.dry_run else "sent"
        since = "the beginning" if self.since is None else self.since.isoformat(sep=" ")
        lines = [
            f"catalogue sync {self.source} → {self.target} ({self.mode} run, items from {since}"
            f"{', resumed' if self.resumed else ''}{', dry run' if self.dry_run else ''})",
            "",
            f"  {'outcome':<10} {'items':>9}",
            f"  {'-' * 10} {'-' * 9}",
        ]
        lines += [f"  {name:<10} {self.counts[name]:>9,}" for name in OUTCOMES]
        lines += [
            f"  {'-' * 10} {'-' * 9}",
            f"  {'read':<10} {self.read:>9,}",
            "",
            f"  {self.pages:,} pages read, {self.batches:,} batches {verb}, {self.seconds:.1f} s",
        ]
        if self.refusals:
            lines += ["", f"  refused items ({self.counts['refused']:,}):", f"  {'item':<14} {'region':<7} code"]
            lines += [f"  {r.item_code:<14} {r.region:<7} {r.code}{f' at {r.where}' if r.where else ''}"
                      for r in self.refusals]
            if self.counts["refused"] > len(self.refusals):
                lines.append(f"  … and {self.counts['refused'] - len(self.refusals):,} more, not listed")
        status = "completed" if self.completed else f"stopped: {self.error}" if self.error else "not completed"
        lines += ["", f"  {status}"]
        return "\n".join(lines)
