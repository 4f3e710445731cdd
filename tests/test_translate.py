"""Every published sample translates into every other dialect carrying its type, and equals that dialect's sample.

"Equals" is README §9 twice over: the decoded reference records are equal (the comparator), and the message trees
with the envelope fields of §9 removed are equal (so the writer chose the same local item codes, number-or-string
forms, omitted optionals and element order as the platform's own sample).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.compare import business_diff, same_record
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.translate import make_envelope, translate

ENVELOPE_KEYS = {
    "anhui": {"code", "msg"},
    "zlb": {"head", "code", "msg", "dataCount", "requestId"},
}
XML_ENVELOPE = {"Header", "Signature", "AuthHeader", "DigitalSign"}


def _index(samples_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    by_record: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_record[(row["record_id"], row["type"])][row["dialect"]] = row["file"]
    return by_record


def _pairs() -> list[tuple[str, str, str, str]]:
    from tests.conftest import PLATFORMS

    index = _index(PLATFORMS / "samples") if PLATFORMS.is_dir() else {}
    return [
        (rid, rtype, src, dst)
        for (rid, rtype), files in sorted(index.items())
        for src in sorted(files)
        for dst in sorted(files)
        if src != dst
    ]


def _xml_tree(element: Any) -> Any:
    local = etree.QName(element).localname
    attrs = {k: v for k, v in element.attrib.items() if k not in ("BatchNo", "Count")}
    children = [
        _xml_tree(c) for c in element if isinstance(c.tag, str) and etree.QName(c).localname not in XML_ENVELOPE
    ]
    text = (element.text or "").strip() if not children else ""
    return (local, attrs, text, children)


def business_tree(dialect: str, body: bytes) -> Any:
    """The message with the envelope fields of README §9 removed, as comparable data."""
    if body.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"<"):
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        return _xml_tree(root)
    tree = json.loads(body)
    for key in ENVELOPE_KEYS.get(dialect, set()):
        tree.pop(key, None)
    if dialect == "anhui" and isinstance(tree.get("data"), dict) and "list" in tree["data"]:
        tree["data"] = {"list": tree["data"]["list"]}
    return tree


@pytest.mark.parametrize(("record_id", "record_type", "source", "destination"), _pairs())
def test_sample_translates_to_the_other_dialects_sample(
    registry: Any, samples_dir: Path, record_id: str, record_type: str, source: str, destination: str
) -> None:
    files = _index(samples_dir)[(record_id, record_type)]
    body = (samples_dir / files[source]).read_bytes()
    expected = (samples_dir / files[destination]).read_bytes()
    _, dst_platform = registry.resolve(destination)
    out = translate(registry, source, destination, record_type, body, make_envelope(dst_platform, datetime.now(UTC)))
    assert same_record(registry, record_type, (destination, out), (destination, expected)) == {}
    assert business_tree(destination, out) == business_tree(destination, expected)


def test_the_matrix_covers_every_sample(samples_dir: Path) -> None:
    pairs = _pairs()
    assert len(pairs) >= 100
    assert {(p[2], p[3]) for p in pairs} >= {("anhui", "g60"), ("zlb", "shanghai"), ("hunan", "anhui")}


def test_comparator_names_the_differing_fields(registry: Any, samples_dir: Path) -> None:
    a = registry.adapter("anhui").decode("case", (samples_dir / "anhui/case/SC001.json").read_bytes())
    b = registry.adapter("anhui").decode("case", (samples_dir / "anhui/case/SC002.json").read_bytes())
    diff = business_diff(a, b)
    assert "case_no" in diff
    assert "materials.#" in diff
    assert business_diff(a, a) == {}


@pytest.mark.parametrize(
    ("file", "dialect", "record_type", "code"),
    [
        ("anhui-case-id-checksum.json", "anhui", "case", "ID_CHECKSUM"),
        ("zlb-case-unknown-code.json", "zlb", "case", "UNKNOWN_CODE"),
        ("hunan-case-missing-field.json", "hunan", "case", "MISSING_FIELD"),
        ("g60-case-wrong-encoding-declaration.xml", "g60", "case", "ENCODING_MISMATCH"),
        ("shanghai-case-xxe.xml", "shanghai", "case", "XML_DTD_FORBIDDEN"),
        ("g60-case-billion-laughs.xml", "g60", "case", "XML_DTD_FORBIDDEN"),
        ("hunan-case-oversize.json", "hunan", "case", "BODY_TOO_LARGE"),
        ("g60-case-unknown-item.xml", "g60", "case", "UNKNOWN_ITEM"),
    ],
)
def test_every_bad_sample_is_refused_with_its_listed_code(
    registry: Any, samples_dir: Path, file: str, dialect: str, record_type: str, code: str
) -> None:
    with (samples_dir / "bad/INDEX.csv").open(encoding="utf-8") as fh:
        listed = {r["file"]: r["expected_error"] for r in csv.DictReader(fh)}
    assert listed[file] == code
    destination = "anhui" if dialect != "anhui" else "zlb"
    with pytest.raises(Refusal) as info:
        translate(registry, dialect, destination, record_type, (samples_dir / "bad" / file).read_bytes(),
                  make_envelope(None, datetime.now(UTC)))
    assert info.value.code.value == code


def test_destination_that_does_not_offer_the_item_names_the_source_field(registry: Any, samples_dir: Path) -> None:
    tree = json.loads((samples_dir / "zlb/case/SC002.json").read_bytes())
    tree["body"]["localItemCode"] = "330200-XK-000101017000-01"  # 机动车驾驶证补领: not offered through G60
    body = json.dumps(tree, ensure_ascii=False).encode()
    with pytest.raises(Refusal) as info:
        translate(registry, "zlb", "g60", "case", body, make_envelope(None, datetime.now(UTC)))
    assert (info.value.code, info.value.where) == (C.UNKNOWN_ITEM, "body.localItemCode")
    translate(registry, "zlb", "songjiang", "case", body, make_envelope(None, datetime.now(UTC)))


def test_unknown_region_wins_over_the_destination_item(registry: Any, samples_dir: Path) -> None:
    tree = json.loads((samples_dir / "zlb/case/SC002.json").read_bytes())
    tree["body"]["localItemCode"] = "330200-XK-000101017000-01"
    tree["body"]["handleAreaCode"] = "320600"
    with pytest.raises(Refusal) as info:
        translate(registry, "zlb", "g60", "case", json.dumps(tree, ensure_ascii=False).encode(),
                  make_envelope(None, datetime.now(UTC)))
    assert info.value.code is C.UNKNOWN_REGION


def test_anhui_site_rule_picks_huainan_codes_for_3404(registry: Any, samples_dir: Path) -> None:
    body = (samples_dir / "zlb/evaluation/SE001.json").read_bytes()
    out = json.loads(translate(registry, "zlb", "anhui", "evaluation", body, make_envelope(None, datetime.now(UTC))))
    assert out["regionCode"] == "340400000000"
    assert out["serviceCode"] == "11340400MBDB168C5K3000131005000"


@pytest.mark.parametrize(("source", "destination"), [("hunan", "anhui"), ("anhui", "hunan"), ("zlb", "g60")])
def test_types_a_side_does_not_carry_are_unsupported(registry: Any, source: str, destination: str) -> None:
    record_type = "licence" if "hunan" in (source, destination) else "evaluation"
    with pytest.raises(Refusal) as info:
        translate(registry, source, destination, record_type, b"{}", make_envelope(None, datetime.now(UTC)))
    assert info.value.code is C.UNSUPPORTED_TYPE


def test_a_catalogue_page_too_large_for_one_item_batch(registry: Any, samples_dir: Path) -> None:
    page = json.loads((samples_dir / "anhui/item/SI001.json").read_bytes())
    page["data"]["list"] = page["data"]["list"] * 501
    with pytest.raises(Refusal) as info:
        translate(registry, "hefei", "yrd-map", "item", json.dumps(page, ensure_ascii=False).encode(),
                  make_envelope(None, datetime.now(UTC)))
    assert (info.value.code, info.value.where) == (C.BATCH_TOO_LARGE, "data.list")
    page["data"]["list"] = []
    with pytest.raises(Refusal) as info:
        translate(registry, "hefei", "yrd-map", "item", json.dumps(page, ensure_ascii=False).encode(),
                  make_envelope(None, datetime.now(UTC)))
    assert (info.value.code, info.value.where) == (C.MISSING_FIELD, "data.list")


def test_yrd_map_takes_item_batches_only(registry: Any, samples_dir: Path) -> None:
    with pytest.raises(Refusal) as info:
        translate(registry, "hefei", "yrd-map", "case", (samples_dir / "anhui/case/SC001.json").read_bytes(),
                  make_envelope(None, datetime.now(UTC)))
    assert info.value.code is C.UNSUPPORTED_TYPE
