"""Where a run starts: resume an unfinished one, or begin a new one. Pure: the saved checkpoint in, a plan out.

The rules (docs/sync.md repeats them for operators):

- An **unfinished** run (killed, or stopped by a failure) is resumed by the same command: no option, or the same
  ``--full`` / ``--since`` it was started with. It keeps its run id, its ``since`` and its position, so the batches
  it sends again carry the MessageIds the target has seen.
- ``--full`` otherwise starts a new run over the whole catalogue; ``--since TIME`` one from ``TIME``. Unchanged
  items are still not sent (their hashes are stored); a full run re-reads everything, which heals items refused
  earlier and items the target lost.
- Without options after a **finished** run, a new incremental run continues from its last position; with an
  ``overlap`` of N seconds it re-reads the last N seconds instead (for a source whose ``CD_TIME`` is taken before
  its commit), the content hashes keep that from re-sending anything.
- Without any checkpoint, a full run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.errors import GatewayError
from gateway.model.timefmt import BEIJING

from .state import Checkpoint, Position

__all__ = ["CheckpointUnreadable", "RunPlan", "plan_run"]


class CheckpointUnreadable(GatewayError, ValueError):
    """The saved checkpoint is not one this code wrote; ``--full`` or ``--since`` starts afresh."""


@dataclass(frozen=True, slots=True)
class RunPlan:
    run: str
    mode: str  # full, since, incremental
    since: datetime | None
    position: Position | None
    resumed: bool = False


def _same(a: datetime | None, b: datetime | None) -> bool:
    return a == b if a is not None and b is not None else a is None and b is None


def _aware(when: datetime) -> datetime:
    """anhui.md §6.5 / README §8: a time without an offset is Beijing time."""
    return when if when.tzinfo is not None else when.replace(tzinfo=BEIJING)


def plan_run(saved: str | None, *, full: bool, since: datetime | None, overlap: float = 0.0,
             new_run_id: str | None = None) -> RunPlan:
    """The plan for this invocation (see the module docstring); ``saved`` is the stored checkpoint text."""
    if full and since is not None:
        raise ValueError("--full and --since exclude each other")
    since = None if since is None else _aware(since)
    run = new_run_id or uuid.uuid4().hex
    checkpoint = None
    if saved is not None:
        try:
            checkpoint = Checkpoint.loads(saved)
        except ValueError as exc:
            if not (full or since is not None):
                raise CheckpointUnreadable("the saved sync checkpoint is unreadable; run with --full") from exc
    if checkpoint is not None and not checkpoint.done:
        asked_same = (not full and since is None) or (full and checkpoint.since is None) or (
            since is not None and _same(since, checkpoint.since))
        if asked_same:
            return RunPlan(checkpoint.run, checkpoint.mode, checkpoint.since, checkpoint.position, resumed=True)
    if full:
        return RunPlan(run, "full", None, None)
    if since is not None:
        return RunPlan(run, "since", since, None)
    if checkpoint is not None and checkpoint.position is not None:
        last = checkpoint.position
        if overlap > 0:
            return RunPlan(run, "incremental", last.time - timedelta(seconds=overlap), None)
        return RunPlan(run, "incremental", last.time, last)
    if checkpoint is not None and checkpoint.done:
        return RunPlan(run, "incremental", checkpoint.since, None)  # the last run found nothing at all
    return RunPlan(run, "full", None, None)
