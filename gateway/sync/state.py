"""What the catalogue sync remembers between runs: item content hashes, the position, the checkpoint. No I/O.

**Item key and content hash.** An item is named by its 基本编码 and its region (g60.md §6: ``CatalogCode`` plus
region; one 基本编码 is implemented in many regions). Its hash is SHA-256 over the canonical JSON of its reference
values (README §9: business content only) *without* ``updated_at`` and with ``operation`` reduced to "deleted or
not": a source that re-publishes an item (new ``CD_TIME``, ``I`` → ``U``) with the same content has nothing new to
tell the target, while a deletion (anhui.md §6.5: a ``D`` item keeps its last content) always differs from the live
item. The store keeps one hash per (link, key): the hashes of ``hefei`` towards ``yrd-map`` are not those towards
another target.

**Position.** The source orders its catalogue by ``CD_TIME`` then ``CATALOG_CODE`` (anhui.md §6.5). A position is
the last item passed in that order: its time, its code, the regions already passed at that (time, code) (the order
among one code's regions is not documented, so they are remembered, not compared) and its *rank*: how many items of
the result for ``updatedSince = time`` come at or before it. The rank lets the page walker ask for the right page
at once; the walker verifies it on every page, so a wrong rank costs a request, never an item.

**Checkpoint.** Saved after every confirmed batch, as JSON under the job ``catalogue:<source>><target>``:
``run`` (a stable id of this run: it seeds the batches' MessageIds, so a batch re-sent after a crash is recognised
by the target, g60.md §7), ``since`` (the run's lower bound, or null for a full run), ``position`` (the last item
confirmed, every earlier item being confirmed or unchanged), ``done`` (the run reached the end of the catalogue)
and ``mode`` (full, since, incremental: for the report of a resumed run).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.model.records import Item

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "Position", "content_hash", "item_key", "job_name", "link_name"]

CHECKPOINT_VERSION = 1


def item_key(item: Item) -> str:
    """The store key of an item: 基本编码 and region."""
    return f"{item.item_code}:{item.region}"


def content_hash(item: Item) -> str:
    """SHA-256 (hex) of the item's business content; see the module docstring for what is left out and why.

    The hashed text is the JSON array of the reference values in the order of the reference item (README §5.3),
    materials as ``[name, required]`` pairs: written out field by field because this runs for every item of
    every page (a generic ``to_ref`` walk costs three times as much).
    """
    values = [
        item.item_code,
        item.item_name,
        item.item_type,
        item.dept_code,
        item.dept_name,
        item.level,
        item.region,
        item.legal_days,
        item.promise_days,
        item.online,
        item.cross_province,
        item.version,
        item.operation == "DELETE",
        [[m.name, m.required] for m in item.materials],
    ]
    text = _ENCODER.encode(values)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def link_name(source: str, target: str) -> str:
    """The store's namespace for item hashes of one link (``source>target``)."""
    return f"{source}>{target}"


def job_name(source: str, target: str) -> str:
    """The checkpoint's job name of one link."""
    return f"catalogue:{link_name(source, target)}"


@dataclass(frozen=True, slots=True)
class Position:
    """The last item passed in the source's order (see the module docstring)."""

    time: datetime
    code: str
    regions: frozenset[str] = field(default_factory=frozenset)
    rank: int = 1

    def passed(self, item: Item) -> bool:
        """True when ``item`` comes at or before this position (it was already handled)."""
        here = (item.updated_at, item.item_code)
        mark = (self.time, self.code)
        return here < mark or (here == mark and item.region in self.regions)

    def advance(self, item: Item) -> Position:
        """The position just after ``item``, which follows this one in the source's order."""
        return Position.after(self, item)

    @staticmethod
    def after(position: Position | None, item: Item) -> Position:
        """``position.advance(item)``, also from no position at all (the start of a run)."""
        if position is None or item.updated_at != position.time:
            return Position(item.updated_at, item.item_code, frozenset({item.region}), 1)
        regions = position.regions | {item.region} if item.item_code == position.code else frozenset({item.region})
        return Position(item.updated_at, item.item_code, regions, position.rank + 1)

    def as_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "code": self.code, "regions": sorted(self.regions), "rank": self.rank}

    @classmethod
    def from_json(cls, data: Any) -> Position:
        """Read what :meth:`as_json` wrote; ``ValueError`` for anything else."""
        if not isinstance(data, dict):
            raise ValueError("a position is a JSON object")
        time = datetime.fromisoformat(str(data["time"]))
        if time.tzinfo is None:
            raise ValueError("a position's time carries its offset")
        regions = data.get("regions", [])
        rank = data.get("rank", 1)
        if not isinstance(regions, list) or type(rank) is not int or rank < 0:
            raise ValueError("a position has a list of regions and a whole rank")
        return cls(time, str(data["code"]), frozenset(str(r) for r in regions), rank)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The saved state of a run (see the module docstring)."""

    run: str
    since: datetime | None
    position: Position | None
    done: bool = False
    mode: str = "full"  # how the run was asked for: full, since or incremental (for its report when resumed)

    def dumps(self) -> str:
        return json.dumps(
            {
                "version": CHECKPOINT_VERSION,
                "run": self.run,
                "since": None if self.since is None else self.since.isoformat(),
                "position": None if self.position is None else self.position.as_json(),
                "done": self.done,
                "mode": self.mode,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> Checkpoint:
        """Read a saved checkpoint; ``ValueError`` (without the text) when it is not one this code wrote."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
                raise ValueError("unknown checkpoint version")
            since = data.get("since")
            position = data.get("position")
            return cls(
                run=str(data["run"]),
                since=None if since is None else datetime.fromisoformat(str(since)),
                position=None if position is None else Position.from_json(position),
                done=bool(data.get("done", False)),
                mode=str(data.get("mode", "full")),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError("not a catalogue sync checkpoint") from exc
