"""Masking personal data: every sample's personal values disappear, identifiers stay readable."""

from __future__ import annotations

import csv
import json
import re
import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.observability.masking import mask_mapping, mask_text, masked_bytes_preview
from gateway.observability.personal_fields import MAPPINGS_DIR, build_catalogue, kind_of_ref

SAFE_REFS = {"case_no", "item_code", "dept_code", "issuer_code", "identifier"}


# --- reading the samples independently of the code under test ----------------------------------------------------
def _decode(raw: bytes) -> str:
    m = re.match(rb'<\?xml[^>]*encoding="([^"]+)"', raw)
    return raw.decode(m.group(1).decode() if m else "utf-8")


def _json_values(node: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _json_values(item, parts)
        return
    if not parts:
        yield node
        return
    head = parts[0].replace("[]", "")
    if isinstance(node, dict) and head in node:
        yield from _json_values(node[head], parts[1:])


def _xml_values(root: etree._Element, record_root: str, path: str) -> Iterator[str]:
    anchor = record_root.rsplit("/", maxsplit=1)[-1]
    for record in root.iter():
        if etree.QName(record).localname != anchor:
            continue
        nodes = [record]
        for part in path.replace("[]", "").split("/"):
            if part.startswith("@"):
                yield from (n.get(part[1:]) for n in nodes if n.get(part[1:]) is not None)
                nodes = []
                break
            if part == "#text":
                yield from (n.text for n in nodes if n.text)
                nodes = []
                break
            nodes = [c for n in nodes for c in n if etree.QName(c).localname == part]
        yield from (n.text for n in nodes if n.text and len(n) == 0)


def _values(raw: bytes, syntax: str, mapping: dict[str, Any], want: Any) -> set[str]:
    """Values at the mapping's paths whose ref satisfies ``want``."""
    paths = [f["path"] for f in mapping.get("field", []) if want(f["ref"])]
    out: set[str] = set()
    if syntax == "json":
        doc = json.loads(raw)
        root = [p for p in mapping.get("root", "").split(".") if p]
        for path in paths:
            out |= {str(v) for v in _json_values(doc, root + path.split(".")) if v not in (None, "")}
    else:
        tree = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
        for path in paths:
            out |= {v for v in _xml_values(tree, mapping["root"], path) if v}
    return out


def _samples(samples_dir: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """(file, dialect, record type, bytes) of every well-formed sample, the bad ones included."""
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = [(r["file"], r["dialect"], r["type"]) for r in csv.DictReader(fh)]
    with (samples_dir / "bad" / "INDEX.csv").open(encoding="utf-8") as fh:
        rows += [
            ("bad/" + r["file"], r["dialect"], r["type"])
            for r in csv.DictReader(fh)
            if r["expected_error"] not in {"XML_DTD_FORBIDDEN", "BODY_TOO_LARGE"}
        ]
    for file, dialect, kind in rows:
        yield file, dialect, kind, (samples_dir / file).read_bytes()


def _mapping(dialect: str, kind: str) -> tuple[str, dict[str, Any]]:
    with (MAPPINGS_DIR / dialect / "dialect.toml").open("rb") as fh:
        syntax = tomllib.load(fh)["syntax"]
    with (MAPPINGS_DIR / dialect / f"{kind}.toml").open("rb") as fh:
        return syntax, tomllib.load(fh)


def _personal(ref: str) -> bool:
    return kind_of_ref(ref) is not None


def test_no_personal_value_of_any_sample_survives(samples_dir: Path) -> None:
    seen = 0
    for file, dialect, kind, raw in _samples(samples_dir):
        syntax, mapping = _mapping(dialect, kind)
        personal = _values(raw, syntax, mapping, _personal)
        readable = _values(raw, syntax, mapping, SAFE_REFS.__contains__)
        text = _decode(raw)
        seen += len(personal)
        masked_texts = [mask_text(text)]
        if syntax == "json":
            masked_texts.append(json.dumps(mask_mapping(json.loads(text)), ensure_ascii=False))
        for masked in masked_texts:
            leaked = sorted(v for v in personal if v in masked)
            assert not leaked, f"{file}: {len(leaked)} personal value(s) survive masking"
            lost = sorted(v for v in readable if v not in masked)
            assert not lost, f"{file}: identifiers masked: {lost}"
    assert seen > 100  # the walk really found the samples' personal values


def test_ids_phones_and_mail_are_masked_by_format_in_free_text() -> None:
    text = (
        "申请人身份证340121199904278686，代办人34052419800101001X（校验位错的110105194912310021也算），"
        "手机13996120484或+86 139 9612 0484，座机0551-65123456、(021)57681234，邮箱 zhang.san@example.cn，"
        "token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIzNDAxIn0.c2lnbmF0dXJl, Authorization: Bearer abcDEF123456789"
    )
    masked = mask_text(text)
    for secret in (
        "340121199904278686",
        "34052419800101001X",
        "110105194912310021",
        "13996120484",
        "139 9612 0484",
        "65123456",
        "57681234",
        "zhang.san",
        "eyJzdWIiOiIzNDAxIn0",
        "abcDEF123456789",
    ):
        assert secret not in masked
    assert "3401************86" in masked and "139******84" in masked and "z***@example.cn" in masked
    assert mask_text("ID340121199904278686 Tel13996120484号") == "ID3401************86 Tel139******84号"


def test_hashes_and_trace_ids_are_not_read_as_numbers() -> None:
    sha = ("5fbb657a13996120484a340121199904278686e" + "0df4181b0d985d03eac75614633f5afedb847")[:64]
    span = "13996120484123ab"
    text = f"sha {sha} span {span} trace 00-{sha[:32]}-{span}-01"
    assert len(sha) == 64 and mask_text(text) == text


def test_identifiers_stay_readable_in_free_text() -> None:
    text = (
        "case 3205002405030562129 item 000131009000 task 11340100MBDXKMKF3M3000131009000 dept 11320500MBYNYFCG7Q "
        "licence 1.2.156.3005.2.11340000MB0A3K7N3P017.11340100MB1F6Q3A0Y.340100202505200001.001.7 "
        "at 20250609103419 epoch 1749436459000 sha 5fbb657a2bfb593ea561f61946e0df4181b0d985d03eac75614633f5afedb847"
    )
    assert mask_text(text) == text


def test_an_id_shaped_case_number_is_kept_under_its_field_and_masked_in_prose() -> None:
    body = '{"PROJID": "340100202506090001", "REMARK": "see 340100202506090001"}'
    masked = mask_text(body)
    assert '"PROJID": "340100202506090001"' in masked
    assert "see 3401************01" in masked  # in prose the gateway cannot tell, and masks


def test_generic_names_are_personal_only_under_their_parent() -> None:
    xml = (
        "<Case><Applicant><Name>阿卜杜拉·买买提</Name><CertNo>H12345678</CertNo></Applicant>"
        "<Materials><Material><Name>申请表</Name></Material></Materials><Name>许可证</Name></Case>"
    )
    masked = mask_text(xml)
    assert "阿卜杜拉" not in masked and "H12345678" not in masked
    assert "<Name>申请表</Name>" in masked and "<Name>许可证</Name>" in masked
    record = {"applicant": {"name": "𠀐先生", "id_number": "A1234567"}, "materials": [{"name": "申请表"}]}
    assert mask_mapping(record) == {
        "applicant": {"name": "𠀐**", "id_number": "A*****67"},
        "materials": [{"name": "申请表"}],
    }


def test_attributes_reprs_and_key_value_text_are_masked() -> None:
    assert "吴**" in mask_text('<ex:Agent name="吴娟" certType="SFZ" certNo="08123456"/>')
    assert "08123456" not in mask_text('<ex:Agent name="吴娟" certType="SFZ" certNo="08123456"/>')
    assert "赵娜" not in mask_text("{'CONTACTMAN': '赵娜', 'x': 1}")
    assert "赵娜" not in mask_text("agentName=赵娜 holderCertNo=08123456&x=1")
    assert "08123456" not in mask_text("agentName=赵娜 holderCertNo=08123456&x=1")


def test_mask_mapping_masks_numbers_under_personal_fields_and_repeats_elsewhere() -> None:
    record = {
        "TELPHONE": 19546565528,
        "APPLYNAME": "王小明",
        "PROJECTNAME": "关于王小明的申请",
        "DATAVER": 4,
        "flag": True,
        "none": None,
        "list": ("x", 13996120484),
    }
    masked = mask_mapping(record)
    assert masked["TELPHONE"] == "195******28"
    assert masked["PROJECTNAME"] == "关于王**的申请"
    assert masked["DATAVER"] == 4 and masked["flag"] is True and masked["none"] is None
    assert masked["list"] == ["x", 13996120484]  # a bare number is not text; the log formatter masks its rendering


def test_a_new_dialect_mapping_is_covered_without_code(tmp_path: Path) -> None:
    dialect = tmp_path / "suzhou"
    dialect.mkdir()
    (dialect / "dialect.toml").write_text('syntax = "json"\n', encoding="utf-8")
    (dialect / "case.toml").write_text(
        'record = "case"\nroot = ""\n[[field]]\npath = "sqr.xm"\nref = "applicant.name"\n'
        '[[field]]\npath = "sqrZjhm"\nref = "applicant.id_number"\n[[field]]\npath = "bjbh"\nref = "case_no"\n',
        encoding="utf-8",
    )
    catalogue = build_catalogue(tmp_path)
    assert catalogue.dialects == ("suzhou",)
    masked = mask_mapping(
        {"sqr": {"xm": "钱多多"}, "sqrZjhm": "P1234567", "bjbh": "340100202506090001"}, catalogue=catalogue
    )
    assert masked == {"sqr": {"xm": "钱**"}, "sqrZjhm": "P*****67", "bjbh": "340100202506090001"}
    assert "P1234567" not in mask_text('{"sqrZjhm": "P1234567"}', catalogue=catalogue)


def test_preview_is_masked_before_it_is_cut(samples_dir: Path) -> None:
    raw = (samples_dir / "g60" / "case" / "SC001.xml").read_bytes()
    preview = masked_bytes_preview(raw, limit=1000)
    assert "个体工商户" in preview  # decoded from GB18030
    assert "340121199904278686" not in preview and preview.endswith(f"…({len(raw)} bytes)")
    body = b'{"TELPHONE": "19546565528"}'
    for limit in range(1, len(body) + 1):
        assert "954656" not in masked_bytes_preview(body, limit)
    assert masked_bytes_preview(body, 200) == '{"TELPHONE": "195******28"}'
    assert masked_bytes_preview(body, 0) == f"…({len(body)} bytes)"


@pytest.mark.parametrize(
    ("value", "masked"),
    [("340121199904278686", "3401************86"), ("13996120484", "139******84"), ("0551-65123456", "055*-******56")],
)
def test_mask_shapes(value: str, masked: str) -> None:
    assert mask_text(value) == masked


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@st.composite
def _resident_ids(draw: st.DrawFn) -> str:
    """Valid GB 11643 numbers (README §7.1): region, birth date, sequence, check character."""
    region = draw(st.integers(110000, 659999))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    body = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


_AROUND = st.text(st.sampled_from("ab ID号码：:,;()[]{}\"'=身份证手机\n\t-_/"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_AROUND, _resident_ids(), _AROUND, st.from_regex(r"1[3-9]\d{9}", fullmatch=True), _AROUND)
def test_generated_ids_and_mobiles_never_survive(
    before: str, id_number: str, middle: str, mobile: str, after: str
) -> None:
    masked = mask_text(before + id_number + middle + " " + mobile + after)
    assert id_number not in masked and mobile not in masked
