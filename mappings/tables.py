"""Code lists, the item crosswalk and the region table, loaded once from the CSV files in this package.

The files are copies of ``shared/platforms/codes`` and ``shared/platforms/crosswalk`` (a test keeps them equal),
so the product runs without the platform documents beside it. Everything here is immutable after loading.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import ConfigError

__all__ = ["CodeList", "Crosswalk", "RegionTable", "Tables", "load_tables"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class CodeList:
    """One code list: reference value ↔ each dialect's code (README §11)."""

    name: str
    to_ref: dict[str, dict[str, str]]  # dialect → wire code → reference value
    to_wire: dict[str, dict[str, str]]  # dialect → reference value → wire code

    def dialects(self) -> set[str]:
        return {d for d, m in self.to_ref.items() if m}


@dataclass(frozen=True, slots=True)
class Crosswalk:
    """The 跨省通办 items: 基本编码 → item type and each platform column's local code (README §6)."""

    item_type: dict[str, str]  # basic code → reference item type
    columns: dict[str, dict[str, str]]  # column → basic code → local code (empty cells left out)
    local_to_basic: dict[str, dict[str, str]] = field(default_factory=dict)  # column → local → basic

    def with_column(self, column: str, codes: dict[str, str]) -> Crosswalk:
        """A copy with one more platform column (a city added by configuration)."""
        columns = dict(self.columns)
        columns[column] = dict(codes)
        return Crosswalk(self.item_type, columns, _invert(columns))


@dataclass(frozen=True, slots=True)
class RegionTable:
    """crosswalk/regions.csv: region code → serving platform, and whether it is a G60 member city."""

    platform: dict[str, str]
    g60_city: frozenset[str]
    names: dict[str, str]

    def with_regions(self, platform: str, codes: list[str]) -> RegionTable:
        merged = dict(self.platform)
        merged.update(dict.fromkeys(codes, platform))
        return RegionTable(merged, self.g60_city, self.names)


@dataclass(frozen=True, slots=True)
class Tables:
    codes: dict[str, CodeList]
    crosswalk: Crosswalk
    regions: RegionTable


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _invert(columns: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {col: {local: basic for basic, local in m.items()} for col, m in columns.items()}


def load_code_list(path: Path) -> CodeList:
    rows = _read(path)
    if not rows or "canonical" not in rows[0]:
        raise ConfigError(str(path), "canonical", "no header row with a 'canonical' column")
    dialects = [k for k in rows[0] if k not in ("canonical", "name_zh")]
    to_ref: dict[str, dict[str, str]] = {d: {} for d in dialects}
    to_wire: dict[str, dict[str, str]] = {d: {} for d in dialects}
    for row in rows:
        for d in dialects:
            code = row[d]
            if code:
                to_ref[d][code] = row["canonical"]
                to_wire[d][row["canonical"]] = code
    return CodeList(path.stem, to_ref, to_wire)


def load_crosswalk(path: Path) -> Crosswalk:
    rows = _read(path)
    columns: dict[str, dict[str, str]] = {}
    item_type: dict[str, str] = {}
    for row in rows:
        basic = row["basic_code"]
        item_type[basic] = row["item_type"]
        for col, local in row.items():
            if col in ("basic_code", "name_zh", "item_type"):
                continue
            columns.setdefault(col, {})
            if local:
                columns[col][basic] = local
    return Crosswalk(item_type, columns, _invert(columns))


def load_regions(path: Path) -> RegionTable:
    rows = _read(path)
    return RegionTable(
        platform={r["region_code"]: r["platform"] for r in rows},
        g60_city=frozenset(r["region_code"] for r in rows if r["g60_city"] == "Y"),
        names={r["region_code"]: r["name_zh"] for r in rows},
    )


def load_tables(root: Path = HERE) -> Tables:
    """Read every code list, the item crosswalk and the region table under ``root``."""
    codes = {p.stem: load_code_list(p) for p in sorted((root / "codes").glob("*.csv"))}
    return Tables(
        codes=codes,
        crosswalk=load_crosswalk(root / "crosswalk" / "items.csv"),
        regions=load_regions(root / "crosswalk" / "regions.csv"),
    )
