"""The code lists and crosswalks carried in mappings/ still equal the platforms' published CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.tables import HERE, load_tables

PUBLISHED = [
    ("codes", p)
    for p in (
        "applicant_kind",
        "case_status",
        "catalog_operation",
        "cross_region_mode",
        "evaluation_channel",
        "evaluation_level",
        "id_type",
        "item_type",
        "licence_status",
    )
] + [("crosswalk", "items"), ("crosswalk", "regions")]


@pytest.mark.parametrize(("folder", "name"), PUBLISHED)
def test_carried_copy_equals_the_published_file(platforms_dir: Path, folder: str, name: str) -> None:
    published = (platforms_dir / folder / f"{name}.csv").read_bytes()
    carried = (HERE / folder / f"{name}.csv").read_bytes()
    assert carried == published, f"mappings/{folder}/{name}.csv differs from shared/platforms/{folder}/{name}.csv"


def test_every_published_csv_is_carried(platforms_dir: Path) -> None:
    published = {(p.parent.name, p.stem) for p in platforms_dir.glob("*/*.csv") if p.parent.name != "samples"}
    assert published == set(PUBLISHED)


def test_tables_load_both_directions() -> None:
    tables = load_tables()
    status = tables.codes["case_status"]
    assert status.to_ref["zlb"]["20"] == "ACCEPTED"
    assert status.to_wire["shanghai"]["ACCEPTED"] == "SL"
    assert tables.crosswalk.item_type["000172001000"] == "LICENSING"
    assert "000101017000" not in tables.crosswalk.columns["g60"]  # empty cell: not offered through G60
    assert tables.crosswalk.local_to_basic["changsha"]["HN430100_000172001000"] == "000172001000"
    assert tables.regions.platform["340176"] == "hefei"
    assert "310117" in tables.regions.g60_city
