"""The shanghai text writer writes, byte for byte, the document lxml builds, indents and serialises (``render_tree``).

Compared on every sample record, on records generated to pass every rule (the property tests' strategies), on
every character XML 1.0 allows in text and in attributes (each escaped as libxml2 escapes it) and on those it does
not (the same refusal), and on trees of shapes the mappings do not make today (empty text, no attributes, nesting,
mixed content, which the writer leaves to lxml).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from test_properties import STRATEGIES

from adapters.base import Envelope
from gateway.errors import Refusal
from gateway.model.timefmt import BEIJING

ENV = Envelope("3f2504e0-4f89-11d3-9a0c-0305e82c3301", datetime(2025, 6, 1, tzinfo=BEIJING), "req-1", "A", "B")
TYPES = ("case", "status", "licence", "licence_query")


def _outcome(render: Any, record_type: str, tree: Any) -> Any:
    try:
        return render(record_type, tree, ENV)
    except Refusal as exc:
        return (exc.code, exc.where, exc.detail)


def _same(adapter: Any, record_type: str, tree: Any) -> Any:
    written = _outcome(adapter.render, record_type, tree)
    assert written == _outcome(adapter.render_tree, record_type, tree)
    return written


def test_every_sample_record_is_written_as_lxml_writes_it(registry: Any, samples_dir: Path) -> None:
    adapter = registry.adapter("shanghai")
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["type"] in TYPES]
    for row in rows:
        record = registry.adapter(row["dialect"]).decode(row["type"], (samples_dir / row["file"]).read_bytes())
        tree = adapter.mapping(row["type"]).encode(record, registry.item_codes("shanghai", record))
        assert isinstance(_same(adapter, row["type"], tree), bytes)
    assert len(rows) > 20


@pytest.mark.parametrize("record_type", ["case", "status", "licence"])
def test_generated_records_are_written_as_lxml_writes_them(registry: Any, record_type: str) -> None:
    adapter = registry.adapter("shanghai")

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STRATEGIES[record_type])
    def check(record: Any) -> None:
        codes = registry.item_codes("shanghai", record)
        _same(adapter, record_type, adapter.mapping(record_type).encode(record, codes))

    check()


def test_every_character_in_text_and_attributes(registry: Any) -> None:
    """Each code point of the BMP and a few beyond, alone and among others, as element text and as an attribute:
    escaped as libxml2 escapes it, or refused where lxml refuses it."""
    adapter = registry.adapter("shanghai")
    points = [*range(0x10000), 0x10000, 0x1F600, 0x20087, 0xEFFFF, 0x10FFFF]
    refused = 0
    for start in range(0, len(points), 64):
        chunk = [chr(p) for p in points[start : start + 64]]
        for ch in chunk:
            for tree in ({"@caseNo": "a" + ch + "b"}, {"@caseNo": "x", "Remark": ch}):
                refused += not isinstance(_same(adapter, "case", tree), bytes)
        _same(adapter, "case", {"@caseNo": "".join(chunk), "Remark": "".join(chunk)})
    assert refused == 2 * (0x20 - 3 + 0x800 + 2)  # C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF


@pytest.mark.parametrize(
    "tree",
    [
        {},
        {"Remark": ""},
        {"@caseNo": "", "Remark": "", "Applicant": {}},
        {"Applicant": {"@name": "x", "Inner": {"Deeper": {"@a": "1"}, "Text": "t"}}},
        {"Material": [{}, {"@name": "a"}, "text", ""]},
        {"@caseNo": "x", "#text": "own text"},
        {"#text": "mixed", "Remark": "r"},  # text and a child element: left to lxml
        {"#text": "  ", "Remark": "r"},  # whitespace text in a container: etree.indent replaces it
        {"A": {"B": {"C": {"D": {"E": {"F": {"G": "deep"}}}}}}},  # deeper than the writer goes: left to lxml
    ],
)
def test_shapes_beyond_todays_mappings(registry: Any, tree: dict[str, Any]) -> None:
    adapter = registry.adapter("shanghai")
    for record_type in ("case", "licence_query"):
        assert isinstance(_same(adapter, record_type, tree), bytes)
