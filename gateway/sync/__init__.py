"""The provincial catalogue sync (``gateway sync``): a source's paged catalogue to a target's item batches.

Modules, each with one job: :mod:`.state` (item keys, content hashes, positions, the checkpoint), :mod:`.walker`
(reading a changing paged catalogue exactly once), :mod:`.start` (resume or begin), :mod:`.engine` (the run:
batches, bounded concurrency, retries, ordered confirmation), :mod:`.report`, :mod:`.progress`, :mod:`.clients`
(wire clients from configuration), :mod:`.cli` (the subcommand) and :mod:`.metrics_server`. docs/sync.md is the
operator's guide.
"""

from .engine import SyncSettings, run_sync
from .progress import Progress, make_sink
from .report import RefusedItem, SyncReport
from .state import Checkpoint, Position, content_hash, item_key

__all__ = [
    "Checkpoint",
    "Position",
    "Progress",
    "RefusedItem",
    "SyncReport",
    "SyncSettings",
    "content_hash",
    "item_key",
    "make_sink",
    "run_sync",
]
