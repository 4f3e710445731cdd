"""The anhui dialect (anhui.md) and, through it, the order of checks the mapping engine runs (README §10)."""

from __future__ import annotations

import copy
import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import Case, ItemBatch
from gateway.model.timefmt import BEIJING
from mappings.tables import load_tables

ENV = Envelope("m-1", datetime(2025, 6, 1, 12, 0, tzinfo=BEIJING), "r-1")


@pytest.fixture(scope="module")
def anhui() -> AnhuiAdapter:
    return AnhuiAdapter(load_tables(), ("hefei", "huainan"))


def _samples(samples_dir: Path) -> list[tuple[str, str]]:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        return [(r["type"], r["file"]) for r in csv.DictReader(fh) if r["dialect"] == "anhui"]


def _sample(samples_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((samples_dir / "anhui" / name).read_bytes())
    return data


def _refusal(anhui: AnhuiAdapter, record_type: str, tree: dict[str, Any]) -> Refusal:
    with pytest.raises(Refusal) as info:
        anhui.decode(record_type, json.dumps(tree, ensure_ascii=False).encode())
    return info.value


def test_every_sample_decodes_and_round_trips(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    samples = _samples(samples_dir)
    assert len(samples) == 16
    tables = load_tables()
    for record_type, file in samples:
        body = (samples_dir / file).read_bytes()
        record = anhui.decode(record_type, body)
        region = getattr(record, "handling_region", None) or getattr(record, "region", "")
        column = "huainan" if str(region).startswith("3404") else "hefei"
        out = anhui.encode(record_type, record, ENV, tables.crosswalk.columns[column])
        assert anhui.decode(record_type, out) == record, file
        # the writer follows the document: the business part of the tree equals the sample's
        mine, theirs = json.loads(out), json.loads(body)
        for tree in (mine, theirs):
            if record_type == "item":
                tree["data"] = {"list": tree["data"]["list"]}
            if record_type in ("item", "licence"):
                tree.pop("code"), tree.pop("msg")
        assert mine == theirs, file


def test_case_sample_values(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    case = anhui.decode("case", (samples_dir / "anhui/case/SC001.json").read_bytes())
    assert isinstance(case, Case)
    assert case.item_code == "000131009000"
    assert case.applicant.kind == "LEGAL" and case.applicant.id_type == "USCC"
    assert case.agent is not None and case.agent.id_type == "RESIDENT_ID"
    assert case.submitted_at == datetime(2025, 6, 9, 10, 34, 19, tzinfo=BEIJING)
    assert case.materials[1].file_name is None
    assert case.idempotency_key == "3205002405030562129:4"


def test_the_bad_sample_is_refused_with_its_code(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    with pytest.raises(Refusal) as info:
        anhui.decode("case", (samples_dir / "bad/anhui-case-id-checksum.json").read_bytes())
    assert (info.value.code, info.value.where) == (C.ID_CHECKSUM, "APPLY_CARDNUMBER")


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ({"PROJID": "A" * 33}, C.FIELD_TOO_LONG, "PROJID"),
        ({"PROJID": "ABC12"}, C.BAD_FORMAT, "PROJID"),
        ({"PROJID": "#" + "A" * 32}, C.BAD_FORMAT, "PROJID"),  # format before length
        ({"PROJID": "A" * 33, "DEPTNAME": None}, C.FIELD_TOO_LONG, "PROJID"),  # the earlier row first
        ({"PROJID": ""}, C.MISSING_FIELD, "PROJID"),
        ({"TASK_CODE": "11340100MBDXKMKF3M3000131009001"}, C.UNKNOWN_ITEM, "TASK_CODE"),
        ({"CATALOG_CODE": "000131005000"}, C.RULE_VIOLATION, "CATALOG_CODE"),
        ({"APPROVE_TYPE": "20"}, C.RULE_VIOLATION, "APPROVE_TYPE"),
        ({"APPROVE_TYPE": "99"}, C.UNKNOWN_CODE, "APPROVE_TYPE"),
        ({"REGION_ID": "320600"}, C.UNKNOWN_REGION, "REGION_ID"),
        ({"REGION_ID": "32050"}, C.BAD_FORMAT, "REGION_ID"),
        ({"APPLY_CARDTYPE": "111"}, C.BAD_FORMAT, "APPLY_CARDNUMBER"),  # a USCC is no resident ID shape
        ({"APPLY_CARDNUMBER": "91310117MBRF8AJ21Y"}, C.USCC_CHECKSUM, "APPLY_CARDNUMBER"),
        ({"APPLY_CARDNUMBER": "91310117MBRF8AJ21XX"}, C.FIELD_TOO_LONG, "APPLY_CARDNUMBER"),
        ({"LEGALMAN": None}, C.MISSING_FIELD, "LEGALMAN"),
        ({"APPLYER_TYPE_CODE": "1"}, C.RULE_VIOLATION, "APPLY_CARDTYPE"),
        ({"CONTACTMAN": None}, C.MISSING_FIELD, "CONTACTMAN"),
        ({"CONTACTMAN_CARDTYPE": "001", "CONTACTMAN_CARDNUMBER": "91310117MBRF8AJ21X"}, C.RULE_VIOLATION,
         "CONTACTMAN_CARDTYPE"),
        ({"TELPHONE": "1234"}, C.BAD_FORMAT, "TELPHONE"),
        ({"TELPHONE": "1" * 21}, C.FIELD_TOO_LONG, "TELPHONE"),
        ({"TELPHONE": "+86 (551) 6360-0000"}, None, None),
        ({"DEPTID": "11320500MBYNYFCG7R"}, C.USCC_CHECKSUM, "DEPTID"),
        ({"RECEIVETIME": "2025-06-09T10:34:19"}, C.BAD_FORMAT, "RECEIVETIME"),
        ({"RECEIVETIME": "2025-02-30 10:34:19"}, C.BAD_FORMAT, "RECEIVETIME"),
        ({"DATAVER": 4.0}, C.BAD_FORMAT, "DATAVER"),
        ({"DATAVER": "4"}, C.BAD_FORMAT, "DATAVER"),
        ({"DATAVER": 0}, C.BAD_FORMAT, "DATAVER"),
        ({"DATAVER": 1_000_000_000}, C.BAD_FORMAT, "DATAVER"),
        ({"PROMISEVALUE": -1}, C.BAD_FORMAT, "PROMISEVALUE"),
        ({"PROMISEVALUE": 0}, None, None),
        ({"ITEMNAME": 12}, C.BAD_FORMAT, "ITEMNAME"),
        ({"ITEMNAME": "个体\u0001工商户"}, C.BAD_FORMAT, "ITEMNAME"),
        ({"ATTRS": None}, C.MISSING_FIELD, "ATTRS"),
        ({"ATTRS": []}, None, None),
        ({"ATTRS": {}}, C.BAD_FORMAT, "ATTRS"),
        ({"ATTRS": [{"ATTRNAME": "申请表", "AMOUNT": 0}]}, C.BAD_FORMAT, "ATTRS[0].AMOUNT"),
        ({"ATTRS": [{"ATTRNAME": "a", "AMOUNT": 1}, {"AMOUNT": 1}]}, C.MISSING_FIELD, "ATTRS[1].ATTRNAME"),
        ({"ATTRS": [{"ATTRNAME": "a", "AMOUNT": 1, "FILE_HASH": "AB" * 32}]}, C.BAD_FORMAT, "ATTRS[0].FILE_HASH"),
    ],
)
def test_case_refusals_follow_the_order_of_checks(
    anhui: AnhuiAdapter, samples_dir: Path, change: dict[str, Any], code: C | None, where: str | None
) -> None:
    tree = _sample(samples_dir, "case/SC001.json")
    for key, value in change.items():
        if value is None:
            tree.pop(key, None)
        else:
            tree[key] = value
    if code is None:
        anhui.decode("case", json.dumps(tree, ensure_ascii=False).encode())
        return
    exc = _refusal(anhui, "case", tree)
    assert (exc.code, exc.where) == (code, where)


def test_entry_counts_come_before_every_field(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "case/SC001.json")
    tree["PROJID"] = "bad#"
    tree["ATTRS"] = [{"ATTRNAME": "x", "AMOUNT": 1}] * 101
    exc = _refusal(anhui, "case", tree)
    assert (exc.code, exc.where) == (C.TOO_MANY_ENTRIES, "ATTRS")


def test_agent_phone_alone_makes_the_agent_present(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "case/SC003.json")
    assert "CONTACTMAN" not in tree
    tree["CONTACTMAN_TEL"] = "13800000000"
    exc = _refusal(anhui, "case", tree)
    assert (exc.code, exc.where) == (C.MISSING_FIELD, "CONTACTMAN")


def test_null_and_empty_are_absent(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "case/SC001.json")
    tree["REMARK"] = ""
    tree["GB_PROJECT_NO"] = None
    case = anhui.decode("case", json.dumps(tree, ensure_ascii=False).encode())
    assert case.remark is None and case.national_case_no is None


def test_huainan_and_hefei_codes_are_both_accepted(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "case/SC001.json")
    tree["TASK_CODE"] = "11340400MBDB168C5K3000131009000"
    assert anhui.decode("case", json.dumps(tree, ensure_ascii=False).encode()).item_code == "000131009000"


def test_rare_characters_and_minority_names_survive(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "case/SC003.json")
    name = "阿卜杜拉·买买提𠀐㛃䶮"
    tree["APPLYNAME"] = name
    tree["REMARK"] = "tab\there\r\nand 𪚥"
    case = anhui.decode("case", json.dumps(tree, ensure_ascii=False).encode())
    assert case.applicant.name == name
    out = anhui.encode("case", case, ENV, load_tables().crosswalk.columns["hefei"])
    assert name.encode() in out
    again = anhui.decode("case", out)
    assert again.applicant.name == name and again.remark == "tab\there\r\nand 𪚥"
    tree["APPLYNAME"] = "𠀐" * 101
    assert _refusal(anhui, "case", tree).code is C.FIELD_TOO_LONG
    tree["APPLYNAME"] = "𠀐" * 100
    anhui.decode("case", json.dumps(tree, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xef\xbb\xbf{}", C.MALFORMED),
        (b'{"PROJID": "a", "PROJID": "b"}', C.MALFORMED),
        (b'{"DATAVER": NaN}', C.MALFORMED),
        (b'{"PROJID": "\\ud800"}', C.MALFORMED),
        (b'{"PROJID": "\\udc10x"}', C.MALFORMED),
        (b"[1, 2]", C.MALFORMED),
        (b'{"PROJID": "\xff"}', C.ENCODING_MISMATCH),
        (b"{", C.MALFORMED),
    ],
)
def test_json_refusals(anhui: AnhuiAdapter, raw: bytes, code: C) -> None:
    with pytest.raises(Refusal) as info:
        anhui.decode("case", raw)
    assert info.value.code is code


def test_surrogate_pair_escapes_are_accepted(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    text = json.dumps(_sample(samples_dir, "case/SC003.json"), ensure_ascii=False)
    text = text.replace('"罗丽"', '"\\ud840\\udc10"', 1)
    assert anhui.decode("case", text.encode()).applicant.name == "𠀐"


def test_body_limit_comes_first(anhui: AnhuiAdapter) -> None:
    with pytest.raises(Refusal) as info:
        anhui.decode("case", b"x" * (2 * 1024 * 1024 + 1))
    assert info.value.code is C.BODY_TOO_LARGE


def test_unsupported_type(anhui: AnhuiAdapter) -> None:
    with pytest.raises(Refusal) as info:
        anhui.decode("parcel", b"{}")
    assert info.value.code is C.UNSUPPORTED_TYPE


def test_evaluation_rules(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    bad_review = _sample(samples_dir, "evaluation/SE004.json")
    without_flag = dict(bad_review)
    del without_flag["rectifyFlag"]
    assert (_refusal(anhui, "evaluation", without_flag).code, _refusal(anhui, "evaluation", without_flag).where) == (
        C.MISSING_FIELD, "rectifyFlag")
    without_text = dict(bad_review)
    del without_text["writingEvaluation"]
    assert _refusal(anhui, "evaluation", without_text).where == "writingEvaluation"
    good = _sample(samples_dir, "evaluation/SE001.json")
    good["rectifyFlag"] = "1"
    assert (_refusal(anhui, "evaluation", good).code, _refusal(anhui, "evaluation", good).where) == (
        C.RULE_VIOLATION, "rectifyFlag")
    good = _sample(samples_dir, "evaluation/SE001.json")
    good["regionCode"] = "340400000001"
    assert _refusal(anhui, "evaluation", good).code is C.BAD_FORMAT
    good["regionCode"] = "340400000000"
    good["satisfaction"] = "5"
    assert (_refusal(anhui, "evaluation", good).code, _refusal(anhui, "evaluation", good).where) == (
        C.BAD_FORMAT, "satisfaction")
    good["satisfaction"] = 5
    good["evalDetail"] = ["x" * 21]
    assert (_refusal(anhui, "evaluation", good).code, _refusal(anhui, "evaluation", good).where) == (
        C.FIELD_TOO_LONG, "evalDetail[0]")
    good["evalDetail"] = ["a"] * 11
    assert _refusal(anhui, "evaluation", good).code is C.TOO_MANY_ENTRIES


def test_status_accepted_needs_promise_end(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "status/SS002.json")
    del tree["PROMISE_ETIME"]
    exc = _refusal(anhui, "status", tree)
    assert (exc.code, exc.where) == (C.MISSING_FIELD, "PROMISE_ETIME")


def test_licence_rules_and_surface(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    tree = _sample(samples_dir, "licence/SL001.json")
    changed = copy.deepcopy(tree)
    changed["data"]["certificateTypeCode"] = "11340000MB0A3K7N3P017"
    exc = _refusal(anhui, "licence", changed)
    assert (exc.code, exc.where) == (C.RULE_VIOLATION, "data.certificateTypeCode")
    changed = copy.deepcopy(tree)
    changed["data"]["certificateValidateEnd"] = "2024-03-21"
    assert _refusal(anhui, "licence", changed).where == "data.certificateValidateEnd"
    changed = copy.deepcopy(tree)
    changed["data"]["surface"] = []
    assert (_refusal(anhui, "licence", changed).code, _refusal(anhui, "licence", changed).where) == (
        C.MISSING_FIELD, "data.surface")
    changed["data"]["surface"] = [{"a": "1", "b": "2"}]
    assert _refusal(anhui, "licence", changed).code is C.BAD_FORMAT
    changed["data"]["surface"] = [{"a": "1"}] * 51
    assert _refusal(anhui, "licence", changed).code is C.TOO_MANY_ENTRIES
    changed = copy.deepcopy(tree)
    changed["data"]["certificateIdentifier"] = changed["data"]["certificateIdentifier"][:-1] + "Y"
    assert _refusal(anhui, "licence", changed).code is C.LICENCE_ID_CHECKSUM


def test_catalogue_page_rules(anhui: AnhuiAdapter, samples_dir: Path) -> None:
    page = _sample(samples_dir, "item/SI001.json")
    batch = anhui.decode("item", json.dumps(page, ensure_ascii=False).encode())
    assert isinstance(batch, ItemBatch) and batch.items[0].level == 3 and batch.items[0].online is True
    item = page["data"]["list"][0]
    wrong = copy.deepcopy(page)
    wrong["data"]["list"].append(dict(item, TASK_CODE="11340400MB44HLA21F4806280440000"))
    exc = _refusal(anhui, "item", wrong)
    assert (exc.code, exc.where) == (C.RULE_VIOLATION, "data.list[1].TASK_CODE")
    wrong = copy.deepcopy(page)
    wrong["data"]["list"][0]["USE_LEVEL"] = 7
    assert _refusal(anhui, "item", wrong).code is C.UNKNOWN_CODE
    wrong["data"]["list"] = [item] * 1001
    assert _refusal(anhui, "item", wrong).code is C.BATCH_TOO_LARGE
    wrong["data"]["list"][0] = dict(item, IS_ONLINE=True)
    wrong["data"]["list"] = wrong["data"]["list"][:3]
    exc = _refusal(anhui, "item", wrong)
    assert (exc.code, exc.where) == (C.BAD_FORMAT, "data.list[0].IS_ONLINE")


@pytest.mark.parametrize("entry", [1, "x", None, [], [{"TASK_CODE": "x"}], True])
def test_catalogue_page_entry_that_is_not_an_object_is_malformed_not_a_crash(
    anhui: AnhuiAdapter, samples_dir: Path, entry: Any
) -> None:
    """Issue 11 item 7: a non-object in ``data.list`` (the catalogue sync's decoder too) is MALFORMED at its place."""
    page = _sample(samples_dir, "item/SI001.json")
    page["data"]["list"].append(entry)
    exc = _refusal(anhui, "item", page)
    assert (exc.code, exc.where) == (C.MALFORMED, f"data.list[{len(page['data']['list']) - 1}]")


@pytest.mark.parametrize("digits", [10, 65, 4301, 20_000])
@pytest.mark.parametrize("sign", ["", "-"])
def test_integer_of_thousands_of_digits_is_bad_format_not_malformed(
    anhui: AnhuiAdapter, samples_dir: Path, digits: int, sign: str
) -> None:
    """Issue 11 item 9: README §2 says a number outside a field's range is BAD_FORMAT, whatever its length."""
    body = (samples_dir / "anhui/case/SC001.json").read_bytes()
    tree = json.loads(body)
    version = json.dumps(tree["DATAVER"])
    huge = body.replace(f'"DATAVER":{version}'.encode(), f'"DATAVER":{sign}{"9" * digits}'.encode(), 1)
    if huge == body:  # the sample may write a space after the colon
        huge = body.replace(f'"DATAVER": {version}'.encode(), f'"DATAVER": {sign}{"9" * digits}'.encode(), 1)
    assert huge != body
    with pytest.raises(Refusal) as info:
        anhui.decode("case", huge)
    assert (info.value.code, info.value.where) == (C.BAD_FORMAT, "DATAVER")
