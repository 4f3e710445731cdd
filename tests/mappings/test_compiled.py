"""The generated decoder (mappings/compiled.py) behaves exactly as the interpreter it replaces.

Every sample tree of every dialect (JSON as parsed, XML as the schema-guided reader gives it), and random mutations
of them (values swapped for other types, emptied, removed, lists cut or grown, elements with children where text is
expected), must give the same reference values or the same rejection (code, path and detail) both ways.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import Refusal
from mappings.engine import COMPLEX

DIALECTS = ("anhui", "zlb", "hunan", "g60", "shanghai")
ODD_VALUES = [None, "", 0, -1, 4.0, True, "x", "\u0001", [], {}, "9" * 40, "𠀐" * 3, 1_000_000_000, "0", "7", "12"]
#: what only the XML reader puts in a tree: an element with child elements where text is expected
XML_ODD_VALUES = [*ODD_VALUES, COMPLEX]


def _outcome(fn: Any, tree: Any) -> Any:
    try:
        return ("ok", fn(tree))
    except Refusal as exc:
        return ("refused", exc.code, exc.where, exc.detail)


def _record_trees(samples_dir: Path, registry: Any) -> list[tuple[Any, Any]]:
    out = []
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["dialect"] not in DIALECTS or row["type"] == "item":
                continue
            adapter = registry.adapter(row["dialect"])
            tree = adapter.parse(row["type"], (samples_dir / row["file"]).read_bytes())
            out.append((adapter.mapping(row["type"]), tree))
    return out


def test_samples_decode_the_same_both_ways(samples_dir: Path, registry: Any) -> None:
    pairs = _record_trees(samples_dir, registry)
    assert len(pairs) > 30
    for mapping, tree in pairs:
        assert _outcome(mapping.decode_values, tree) == _outcome(mapping.interpret_values, tree)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.append((*prefix, i))
            found.extend(_paths(value, (*prefix, i)))
    return found


def _copy(node: Any) -> Any:
    """Containers copied, values kept as they are (the engine's markers are compared by identity)."""
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node


def _mutate(tree: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    tree = _copy(tree)
    node = tree
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if action == "delete":
        del node[last]
    elif action == "grow" and isinstance(node[last], list):
        node[last] = node[last] * 60 + node[last][:1]
    else:
        node[last] = value
    return tree


@pytest.fixture(scope="module")
def trees(samples_dir: Path, registry: Any) -> list[tuple[Any, Any]]:
    return _record_trees(samples_dir, registry)


def test_mutated_trees_fail_the_same_way_both_ways(trees: list[tuple[Any, Any]]) -> None:
    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data: st.DataObject) -> None:
        mapping, tree = data.draw(st.sampled_from(trees))
        paths = _paths(tree)
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(paths))
            action = data.draw(st.sampled_from(["delete", "set", "grow"]))
            odd = XML_ODD_VALUES if mapping.xml else ODD_VALUES
            tree = _mutate(tree, path, action, data.draw(st.sampled_from(odd)))
            paths = _paths(tree)
            if not paths:
                break
        assert _outcome(mapping.decode_values, tree) == _outcome(mapping.interpret_values, tree)

    check()
