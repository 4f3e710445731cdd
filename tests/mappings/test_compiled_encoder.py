"""The generated encoder (mappings/compiled_encoder.py) writes exactly the tree the interpreter it replaces writes.

Every sample record, and records generated to pass every rule (the property tests' strategies), encoded in every
dialect carrying its type: the same tree with its keys in the same order (so the same bytes once rendered), or the
same refusal (code and path) when the destination does not offer the item, both ways.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from test_properties import CARRIED, STRATEGIES

from gateway.errors import Refusal


def _ordered(node: Any) -> Any:
    """The tree with every object as its list of (key, value) pairs: equal only in the same order."""
    if isinstance(node, dict):
        return [(key, _ordered(value)) for key, value in node.items()]
    if isinstance(node, list):
        return [_ordered(value) for value in node]
    return (type(node), node)


def _outcome(encode: Any, record: Any, codes: Any) -> Any:
    try:
        return ("ok", _ordered(encode(record, codes)))
    except Refusal as exc:
        return ("refused", exc.code, exc.where, exc.detail)


def _both_ways(registry: Any, dialect: str, record_type: str, record: Any) -> None:
    mapping = registry.adapter(dialect).mapping(record_type)
    records = record.items if record_type == "item" else (record,)
    for one in records:
        for codes in (None, registry.item_codes(dialect, one), {}):  # {}: no item offered (UNKNOWN_ITEM)
            assert _outcome(mapping.encode, one, codes) == _outcome(mapping.interpret_encode, one, codes)


def test_every_sample_record_encodes_the_same_both_ways(registry: Any, samples_dir: Path) -> None:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    compared = 0
    for row in rows:
        record = registry.adapter(row["dialect"]).decode(row["type"], (samples_dir / row["file"]).read_bytes())
        for dialect, record_type in CARRIED:
            if record_type == row["type"]:
                _both_ways(registry, dialect, record_type, record)
                compared += 1
    assert compared > 150


@pytest.mark.parametrize(("dialect", "record_type"), CARRIED)
def test_generated_records_encode_the_same_both_ways(registry: Any, dialect: str, record_type: str) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STRATEGIES[record_type])
    def check(record: Any) -> None:
        _both_ways(registry, dialect, record_type, record)

    check()


def test_licence_queries_encode_the_same_both_ways(registry: Any, samples_dir: Path) -> None:
    """The licence query (no strategy of its own): present and absent consent token, in every dialect."""
    from gateway.model.records import LicenceQuery

    identifier = "1.2.156.3005.2.11340000MB0A3K7N3P017.11340100MB1F6Q3A0Y.340100202505200001.001.7"
    for token in ("tok-1", None):
        for dialect in ("anhui", "g60", "zlb", "shanghai"):
            _both_ways(registry, dialect, "licence_query", LicenceQuery(identifier, "办事", token))
