"""A simulated platform's item catalogue (事项目录, anhui.md §6.5): large, deterministic, computed lazily.

Why lazy: the Anhui catalogue has about 142,000 implementation entries; holding them as objects would cost
hundreds of megabytes per simulator. Item ``i`` is computed from ``(seed, i)`` when a page needs it, and both its
``updated_at`` and its ``item_code`` grow with ``i``, so the document's order (``CD_TIME`` then ``CATALOG_CODE``,
§6.5) is the index order and ``updatedSince`` is a binary search.

Mutations (for incremental sync tests and the sync benchmark) move an item to the end of the order with a later
``updated_at``: a changed item gets ``UPDATE`` and version + 1, a deleted one ``DELETE`` with its last content
(§6.5). Only the mutated indices are kept in memory.

Every item is valid by the documents' rules: 12-digit 基本编码 unique per (code, region), department USCCs with
their GB 32100 (and GB 11714) check characters, level 1-6, regions from ``mappings/crosswalk/regions.csv``.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.model.identifiers import gb11714_check_char, gb32100_check_char
from gateway.model.records import Item, ItemMaterial

from ..wire.base import CataloguePage

__all__ = ["DEFAULT_SIZE", "Catalogue", "default_regions"]

BEIJING = timezone(timedelta(hours=8))
DEFAULT_SIZE = 142_000
DEFAULT_START = datetime(2024, 1, 1, tzinfo=BEIJING)
_SPAN = 500 * 86400  # seconds over which base items' updated_at is spread
_REGIONS_CSV = Path(__file__).resolve().parents[2] / "mappings" / "crosswalk" / "regions.csv"
_TYPES = ("LICENSING", "BENEFIT", "CONFIRMATION", "PUBLIC_SERVICE", "OTHER_POWER", "INSPECTION", "LEVY")
_DEPTS = ("市场监督管理局", "城乡建设局", "民政局", "人力资源和社会保障局", "公安局", "卫生健康委员会")
_VERBS = ("核发", "变更登记", "注销", "备案", "补办", "延续", "确认", "发放")
_NOUNS = ("营业执照", "食品经营许可证", "建筑工程施工许可证", "高龄津贴", "社会保障卡", "医师执业证书", "户口迁移")
_MATERIALS = ("申请表", "身份证明", "营业执照副本", "医学证明", "授权委托书", "场地证明", "承诺书")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def default_regions() -> tuple[str, ...]:
    """Every region code of ``crosswalk/regions.csv`` (README §4)."""
    with _REGIONS_CSV.open(encoding="utf-8", newline="") as fh:
        return tuple(row["region_code"] for row in csv.DictReader(fh))


@dataclass(frozen=True, slots=True)
class _Change:
    operation: str  # UPDATE or DELETE
    updated_at: datetime
    updates: int  # how many times the item's content changed (version and name follow it)


class Catalogue:
    """``size`` items, deterministic for ``seed``; see the module docstring."""

    def __init__(
        self,
        seed: int = 0,
        size: int = DEFAULT_SIZE,
        regions: Sequence[str] | None = None,
        start: datetime = DEFAULT_START,
    ) -> None:
        if size < 0:
            raise ValueError("a catalogue size is not negative")
        self.seed = seed
        self.size = size
        self.regions = tuple(regions) if regions is not None else default_regions()
        if not self.regions:
            raise ValueError("a catalogue needs at least one region")
        self.start = start
        self._depts = [self._dept(region, n) for region in self.regions for n in range(len(_DEPTS))]
        self._changes: dict[int, _Change] = {}
        self._mutated: list[int] = []  # sorted indices that left the base order
        self._tail: list[int] = []  # mutated indices in (updated_at, item_code) order
        self._tail_times: list[datetime] = []

    # --- one item from (seed, i) -------------------------------------------------------------------------------------
    def _dept(self, region: str, n: int) -> tuple[str, str]:
        rng = random.Random(f"dept:{self.seed}:{region}:{n}")
        org8 = "".join(rng.choice(_USCC_CHARS) for _ in range(8))
        first17 = "11" + region + org8 + gb11714_check_char(org8)
        return first17 + gb32100_check_char(first17), _DEPTS[n]

    def _base_time(self, i: int) -> datetime:
        return self.start + timedelta(seconds=i * _SPAN // max(self.size, 1))

    def _base(self, i: int) -> Item:
        rng = random.Random(self.seed * 1_000_003 + i)
        region_index = rng.randrange(len(self.regions))
        dept_code, dept_name = self._depts[region_index * len(_DEPTS) + rng.randrange(len(_DEPTS))]
        legal_days = rng.choice((0, 5, 10, 15, 20, 30, 60))
        materials = tuple(
            ItemMaterial(_MATERIALS[(i + k) % len(_MATERIALS)], rng.random() < 0.7) for k in range(rng.randint(0, 5))
        )
        return Item(
            item_code=f"{100_000_000_000 + i * 1000 + rng.randrange(1000):012d}",  # grows with i: index order
            item_name=rng.choice(_NOUNS) + rng.choice(_VERBS),
            item_type=rng.choice(_TYPES),
            dept_code=dept_code,
            dept_name=dept_name,
            level=rng.randint(1, 6),
            region=self.regions[region_index],
            legal_days=legal_days,
            promise_days=min(legal_days, rng.choice((0, 1, 3, 5, 10))),
            online=rng.random() < 0.8,
            cross_province=rng.random() < 0.3,
            version=1,
            operation="ADD",
            updated_at=self._base_time(i),
            materials=materials,
        )

    def item(self, i: int) -> Item:
        """Item ``i`` as it stands now (after any mutations)."""
        if not 0 <= i < self.size:
            raise IndexError(i)
        item = self._base(i)
        change = self._changes.get(i)
        if change is None:
            return item
        if change.updates:
            item = replace(
                item,
                item_name=f"{item.item_name}（第{change.updates}次修订）",
                promise_days=max(0, item.promise_days - 1),
                version=item.version + change.updates,
            )
        # §6.5: a D item keeps its last content
        return replace(item, operation=change.operation, updated_at=change.updated_at)

    # --- paging ------------------------------------------------------------------------------------------------------
    def _first_base_at(self, since: datetime | None) -> int:
        """The first index whose base ``updated_at`` is at or after ``since`` (binary search; monotone in i)."""
        if since is None:
            return 0
        if since.tzinfo is None:
            since = since.replace(tzinfo=BEIJING)  # §6.5: updatedSince is Beijing time without an offset
        lo, hi = 0, self.size
        while lo < hi:
            mid = (lo + hi) // 2
            if self._base_time(mid) < since:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _base_index(self, first: int, position: int) -> int:
        """The index of the ``position``-th (0-based) unmutated item at or after index ``first``."""
        skipped_before = bisect_left(self._mutated, first)
        i = first + position
        while True:
            k = bisect_right(self._mutated, i) - skipped_before
            candidate = first + position + k
            if candidate == i:
                return i
            i = candidate

    def page(self, page_no: int, page_size: int, since: datetime | None = None) -> CataloguePage:
        """Page ``page_no`` (1-based) of the items with ``updated_at >= since``, in the §6.5 order."""
        if page_no < 1 or page_size < 1:
            raise ValueError("page numbers and sizes start at 1")
        first = self._first_base_at(since)
        base_count = (self.size - first) - (len(self._mutated) - bisect_left(self._mutated, first))
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=BEIJING)
        tail_from = 0 if since is None else bisect_left(self._tail_times, since)
        total = base_count + len(self._tail) - tail_from
        offset = (page_no - 1) * page_size
        items: list[Item] = []
        if offset < base_count:
            i = self._base_index(first, offset)
            mutated = set(self._mutated)
            while len(items) < page_size and i < self.size:
                if i not in mutated:
                    items.append(self._base(i))
                i += 1
        tail_offset = max(0, offset - base_count) + tail_from
        for index in self._tail[tail_offset : tail_offset + page_size - len(items)]:
            items.append(self.item(index))
        return CataloguePage(page_no, page_size, total, tuple(items))

    # --- change ------------------------------------------------------------------------------------------------------
    def mutate(self, fraction: float, seed: int, now: float) -> list[int]:
        """Change or delete ``fraction`` of the items at ``now`` (Unix seconds); returns the indices touched.

        Mutated items move to the end of the order with ``updated_at`` = ``now`` (or one second after the
        latest item, if ``now`` is earlier), so an incremental sync from its last ``updated_at`` finds them.
        """
        if not 0 <= fraction <= 1:
            raise ValueError("fraction is between 0 and 1")
        rng = random.Random(f"mutate:{self.seed}:{seed}")
        count = round(self.size * fraction)
        chosen = sorted(rng.sample(range(self.size), count)) if count else []
        latest = max([self._base_time(self.size - 1)] if self.size else [self.start], default=self.start)
        if self._tail_times:
            latest = max(latest, self._tail_times[-1])
        when = datetime.fromtimestamp(now, BEIJING).replace(microsecond=0)
        if when <= latest:
            when = latest + timedelta(seconds=1)
        for i in chosen:
            old = self._changes.get(i)
            operation = "DELETE" if rng.random() < 0.2 else "UPDATE"
            if old is not None and old.operation == "DELETE":
                operation = "DELETE"  # a deleted item stays deleted
            updates = (old.updates if old else 0) + (operation == "UPDATE")
            self._changes[i] = _Change(operation, when, updates)
        self._mutated = sorted(self._changes)
        self._tail = sorted(self._changes, key=lambda i: (self._changes[i].updated_at, self._base(i).item_code))
        self._tail_times = [self._changes[i].updated_at for i in self._tail]
        return chosen
