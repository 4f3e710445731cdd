"""The chain's byte forms are those of version 1, whichever way they are computed (chain.py's editing rules)."""

from __future__ import annotations

import json
import os

from gateway.msglog import AtRestKey, AtRestKeys, NewEntry
from gateway.msglog.api import GENESIS_HASH
from gateway.msglog.chain import canonical_json, entry_hash, new_entry_fields, sealed_entry


def test_canonical_json_is_the_documented_dumps() -> None:
    values = [
        {"b": 1, "a": [1.5, None, True], "é": '中文 \u2028 "q" \\ \n', "z": {"y": "𠀐", "x": -0}},
        {"v": 1, "seq": 2**53, "evidence": '{"x-ah-jws":"a.b.c"}', "message_ct": "QUJD" * 2000},
        [],
        "plain",
    ]
    for value in values:
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        assert canonical_json(value) == expected


def test_a_sealed_entry_carries_the_hash_of_its_placed_fields() -> None:
    keys = AtRestKeys.create(AtRestKey.of("k1", os.urandom(16)))
    new = NewEntry(
        at=1_750_000_000.25,
        direction="out",
        platform="g60",
        operation="case:POST",
        record_type="case",
        message_id="m-1",
        idem_key="C1:1",
        message="<G60Message>中文</G60Message>".encode("gb18030"),
        evidence={"x-ah-jws": "a..b"},
        case_no="C1",
    )
    fields = new_entry_fields(new, keys)
    first = sealed_entry(fields, 1, GENESIS_HASH)
    second = sealed_entry(fields, 2, first.entry_hash)
    for placed, seq, prev in ((first, 1, GENESIS_HASH), (second, 2, first.entry_hash)):
        assert (placed.seq, placed.prev_hash) == (seq, prev)
        assert placed.entry_hash == entry_hash(placed)  # what verify recomputes from the stored row
    assert first.entry_hash != second.entry_hash
