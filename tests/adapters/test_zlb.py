"""The zlb adapter against zlb.md and README §8-§10: samples, round trips, refusals, text, envelopes."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from platform_data import SAMPLES

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from adapters.zlb.codec import (
    ZlbAdapter,
    check_request_time,
    dump_response,
    parse_response,
    request_time,
)
from gateway.dialects import dialect
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import LicenceQuery
from gateway.model.timefmt import BEIJING
from mappings.tables import Tables, load_tables

ENVELOPE = Envelope(
    message_id="m-0001",
    sent_at=datetime(2025, 6, 2, 9, 30, 15, tzinfo=BEIJING),
    request_id="0f8fad5b-d9cb-469f-a165-70867728950e",
    sender="zlb-test-appkey-0001",
)
LICENCE_ID = "1.2.156.3005.2.11100000MB3L0DD70W017.11330200MBG28U8X89.330200202416191589.001.Z"


@pytest.fixture(scope="module")
def tables() -> Tables:
    return load_tables()


@pytest.fixture(scope="module")
def zlb(tables: Tables) -> ZlbAdapter:
    return ZlbAdapter(tables, ("ningbo",))


@pytest.fixture(scope="module")
def anhui(tables: Tables) -> AnhuiAdapter:
    return AnhuiAdapter(tables, ("hefei", "huainan"))


@pytest.fixture(scope="module")
def ningbo_codes(tables: Tables) -> dict[str, str]:
    return tables.crosswalk.columns["ningbo"]


def _index(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row["dialect"] == "zlb"]


SAMPLE_ROWS = _index(SAMPLES / "INDEX.csv")  # a missing copy fails at collection, never an empty (skipped) set
BAD_ROWS = _index(SAMPLES / "bad" / "INDEX.csv")


def _ids(rows: list[dict[str, str]], key: str) -> list[str]:
    return [row[key] for row in rows]


def _load(samples_dir: Path, record_type: str, record_id: str) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads((samples_dir / "zlb" / record_type / f"{record_id}.json").read_bytes())
    return tree


def _bytes(tree: dict[str, Any]) -> bytes:
    return json.dumps(tree, ensure_ascii=False).encode("utf-8")


def _refused(adapter: ZlbAdapter, record_type: str, body: bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        adapter.decode(record_type, body)
    return info.value


def _ordered(node: Any) -> Any:
    """A JSON tree with key order made significant (dicts → lists of pairs)."""
    if isinstance(node, dict):
        return [(k, _ordered(v)) for k, v in node.items()]
    if isinstance(node, list):
        return [_ordered(v) for v in node]
    return node


def _business(record_type: str, tree: dict[str, Any]) -> Any:
    """The business part of a message: README §9 envelope fields removed."""
    if record_type == "licence":
        return _ordered({k: v for k, v in tree["datas"].items() if k != "digitalSign"})
    return _ordered(tree["body"])


# --- samples ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", SAMPLE_ROWS, ids=_ids(SAMPLE_ROWS, "file"))
def test_sample_is_the_same_record_as_anhuis(
    zlb: ZlbAdapter, anhui: AnhuiAdapter, samples_dir: Path, row: dict[str, str]
) -> None:
    record = zlb.decode(row["type"], (samples_dir / row["file"]).read_bytes())
    other = samples_dir / "anhui" / row["type"] / f"{row['record_id']}.json"
    assert record == anhui.decode(row["type"], other.read_bytes())


@pytest.mark.parametrize("row", SAMPLE_ROWS, ids=_ids(SAMPLE_ROWS, "file"))
def test_round_trip_and_writer_follows_the_document(
    zlb: ZlbAdapter, ningbo_codes: dict[str, str], samples_dir: Path, row: dict[str, str]
) -> None:
    raw = (samples_dir / row["file"]).read_bytes()
    record = zlb.decode(row["type"], raw)
    out = zlb.encode(row["type"], record, ENVELOPE, ningbo_codes)
    assert zlb.decode(row["type"], out) == record
    assert _business(row["type"], json.loads(out)) == _business(row["type"], json.loads(raw))


def test_requests_carry_the_envelope_values_of_the_caller(
    zlb: ZlbAdapter, ningbo_codes: dict[str, str], samples_dir: Path
) -> None:
    record = zlb.decode("evaluation", (samples_dir / "zlb/evaluation/SE005.json").read_bytes())
    sent = Envelope("m-2", datetime(2025, 6, 2, 9, 30, 15, 999_999, tzinfo=BEIJING), "req-2", "key-2")
    head = json.loads(zlb.encode("evaluation", record, sent, ningbo_codes))["head"]
    assert head == {"appKey": "key-2", "requestTime": 1748827815000, "requestId": "req-2", "bizType": "EVALUATION_PUSH"}
    assert request_time(sent.sent_at) == 1748827815000


def test_licence_travels_in_the_response_envelope(zlb: ZlbAdapter, samples_dir: Path) -> None:
    record = zlb.decode("licence", (samples_dir / "zlb/licence/SL001.json").read_bytes())
    tree = json.loads(zlb.encode("licence", record, ENVELOPE))
    assert [k for k in tree if k != "datas"] == ["code", "msg", "dataCount", "requestId"]
    assert (tree["code"], tree["msg"], tree["dataCount"], tree["requestId"]) == ("00", "成功", 1, ENVELOPE.request_id)


@pytest.mark.parametrize("row", BAD_ROWS, ids=_ids(BAD_ROWS, "file"))
def test_bad_samples_are_refused_with_their_listed_code(
    zlb: ZlbAdapter, samples_dir: Path, row: dict[str, str]
) -> None:
    assert _refused(zlb, row["type"], (samples_dir / "bad" / row["file"]).read_bytes()).code == row["expected_error"]


def test_the_registry_names_this_adapter() -> None:
    assert dialect("zlb").adapter is ZlbAdapter


def test_a_type_zlb_does_not_carry(zlb: ZlbAdapter) -> None:
    assert _refused(zlb, "item", b"{}").code == C.UNSUPPORTED_TYPE


# --- targeted refusals --------------------------------------------------------------------------------------
DROP = object()

# (sample, record type, changes to the body (or licence datas), code, where)
CHANGES: list[tuple[str, str, dict[str, Any], C, str]] = [
    ("SC001", "case", {"caseStatus": "20"}, C.BAD_FORMAT, "body.caseStatus"),
    ("SC001", "case", {"itemType": "1"}, C.BAD_FORMAT, "body.itemType"),
    ("SC001", "case", {"caseStatus": 20.0}, C.BAD_FORMAT, "body.caseStatus"),
    ("SC001", "case", {"dataVersion": 4.0}, C.BAD_FORMAT, "body.dataVersion"),
    ("SC001", "case", {"dataVersion": True}, C.BAD_FORMAT, "body.dataVersion"),
    ("SC001", "case", {"dataVersion": 0}, C.BAD_FORMAT, "body.dataVersion"),
    ("SC001", "case", {"applyTime": 1747292462001}, C.BAD_FORMAT, "body.applyTime"),
    ("SC001", "case", {"applyTime": "1747292462000"}, C.BAD_FORMAT, "body.applyTime"),
    ("SC001", "case", {"itemName": 5}, C.BAD_FORMAT, "body.itemName"),
    ("SC001", "case", {"localItemCode": "HN430100_000131009000"}, C.UNKNOWN_ITEM, "body.localItemCode"),
    ("SC001", "case", {"localItemCode": "SJ0117000131009000"}, C.UNKNOWN_ITEM, "body.localItemCode"),
    ("SC001", "case", {"itemType": 11}, C.RULE_VIOLATION, "body.itemType"),
    ("SC001", "case", {"itemType": 12}, C.UNKNOWN_CODE, "body.itemType"),
    ("SC001", "case", {"legalPerson": DROP}, C.MISSING_FIELD, "body.legalPerson"),
    ("SC001", "case", {"applicantType": 0}, C.RULE_VIOLATION, "body.applicantCertType"),
    ("SC001", "case", {"agentCertType": "49", "agentCertNo": "91310117MBRF8AJ21X"}, C.RULE_VIOLATION,
     "body.agentCertType"),
    ("SC001", "case", {"agentName": DROP, "agentCertType": DROP, "agentCertNo": DROP, "agentMobile": "13900001111"},
     C.MISSING_FIELD, "body.agentName"),
    ("SC001", "case", {"agentCertNo": DROP}, C.MISSING_FIELD, "body.agentCertNo"),
    ("SC001", "case", {"applicantMobile": "1390"}, C.BAD_FORMAT, "body.applicantMobile"),
    ("SC001", "case", {"applicantMobile": "1" * 21}, C.FIELD_TOO_LONG, "body.applicantMobile"),
    ("SC001", "case", {"caseNo": "A" * 33, "deptName": DROP}, C.FIELD_TOO_LONG, "body.caseNo"),
    ("SC001", "case", {"handleAreaCode": "330300"}, C.UNKNOWN_REGION, "body.handleAreaCode"),
    ("SC001", "case", {"materials": DROP}, C.MISSING_FIELD, "body.materials"),
    ("SC001", "case", {"materials": None}, C.MISSING_FIELD, "body.materials"),
    ("SC001", "case", {"materials": [{"materialName": "表", "copies": 1}] * 101}, C.TOO_MANY_ENTRIES,
     "body.materials"),
    ("SC001", "case", {"materials": [{"materialName": "表", "copies": 0}]}, C.BAD_FORMAT, "body.materials[0].copies"),
    ("SS001", "status", {"caseStatus": 20}, C.MISSING_FIELD, "body.promiseEndTime"),
    ("SS001", "status", {"eventTime": 1757350276500}, C.BAD_FORMAT, "body.eventTime"),
    ("SS001", "status", {"seq": 4e0}, C.BAD_FORMAT, "body.seq"),
    ("SE005", "evaluation", {"evaluateLevel": "04", "rectified": DROP}, C.MISSING_FIELD, "body.rectified"),
    ("SE005", "evaluation", {"evaluateLevel": "04", "content": DROP}, C.MISSING_FIELD, "body.content"),
    ("SE005", "evaluation", {"rectified": DROP}, C.MISSING_FIELD, "body.rectified"),
    ("SE005", "evaluation", {"content": DROP}, C.MISSING_FIELD, "body.content"),
    ("SE005", "evaluation", {"evaluateLevel": "02"}, C.RULE_VIOLATION, "body.rectified"),
    ("SE005", "evaluation", {"rectified": "true"}, C.BAD_FORMAT, "body.rectified"),
    ("SE005", "evaluation", {"rectified": 1}, C.BAD_FORMAT, "body.rectified"),
    ("SE005", "evaluation", {"evaluateLevel": 5}, C.BAD_FORMAT, "body.evaluateLevel"),
    ("SE005", "evaluation", {"evaluateLevel": "5"}, C.UNKNOWN_CODE, "body.evaluateLevel"),
    ("SE005", "evaluation", {"labels": ["好"] * 11}, C.TOO_MANY_ENTRIES, "body.labels"),
    ("SE005", "evaluation", {"labels": ["好", "长" * 21]}, C.FIELD_TOO_LONG, "body.labels[1]"),
    ("SE005", "evaluation", {"labels": DROP}, C.MISSING_FIELD, "body.labels"),
    ("SL001", "licence", {"validBegin": 1711036800000 + 3_600_000}, C.BAD_FORMAT, "datas.validBegin"),
    ("SL001", "licence", {"validBegin": 1711065600000}, C.BAD_FORMAT, "datas.validBegin"),  # UTC midnight
    ("SL001", "licence", {"certStatus": "0"}, C.BAD_FORMAT, "datas.certStatus"),
    ("SL001", "licence", {"surface": []}, C.MISSING_FIELD, "datas.surface"),
    ("SL001", "licence", {"surface": [{"name": "持证主体"}]}, C.MISSING_FIELD, "datas.surface[0].value"),
    ("SL001", "licence", {"validBegin": 1742572800000}, C.RULE_VIOLATION, "datas.validEnd"),
]


def _changed(samples_dir: Path, sample: str, record_type: str, changes: dict[str, Any]) -> dict[str, Any]:
    tree = _load(samples_dir, record_type, sample)
    part = tree["datas"] if record_type == "licence" else tree["body"]
    for key, value in changes.items():
        if value is DROP:
            part.pop(key, None)
        else:
            part[key] = value
    return tree


@pytest.mark.parametrize(("sample", "record_type", "changes", "code", "where"), CHANGES,
                         ids=[f"{c[0]}-{c[3]}-{'-'.join(c[2])}" for c in CHANGES])
def test_refusal(
    zlb: ZlbAdapter, samples_dir: Path, sample: str, record_type: str, changes: dict[str, Any], code: C, where: str
) -> None:
    rejection = _refused(zlb, record_type, _bytes(_changed(samples_dir, sample, record_type, changes)))
    assert (rejection.code, rejection.where) == (code, where)


def test_bad_review_with_its_flag_and_text_passes(zlb: ZlbAdapter, samples_dir: Path) -> None:
    tree = _changed(samples_dir, "SE005", "evaluation", {"evaluateLevel": "04", "rectified": False})
    review = zlb.decode("evaluation", _bytes(tree))
    assert (review.level, review.rectified) == ("DISSATISFIED", False)


def test_agent_fields_all_empty_mean_no_agent(zlb: ZlbAdapter, samples_dir: Path) -> None:
    tree = _changed(samples_dir, "SC001", "case", {"agentName": "", "agentCertType": None, "agentCertNo": DROP})
    assert zlb.decode("case", _bytes(tree)).agent is None


def test_empty_materials_array_is_an_empty_list(
    zlb: ZlbAdapter, ningbo_codes: dict[str, str], samples_dir: Path
) -> None:
    case = zlb.decode("case", _bytes(_changed(samples_dir, "SC001", "case", {"materials": []})))
    assert case.materials == ()
    assert json.loads(zlb.encode("case", case, ENVELOPE, ningbo_codes))["body"]["materials"] == []


# --- the envelope (README §10 step 6) -----------------------------------------------------------------------
ENVELOPE_DEFECTS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("bizType-of-status", lambda t: t["head"].update(bizType="CASE_STATUS"), "head.bizType"),
    ("bizType-lower-case", lambda t: t["head"].update(bizType="case_submit"), "head.bizType"),
    ("no-bizType", lambda t: t["head"].pop("bizType"), "head.bizType"),
    ("head-a-string", lambda t: t.update(head="CASE_SUBMIT"), "head"),
    ("head-null", lambda t: t.update(head=None), "head"),
    ("no-head", lambda t: t.pop("head"), "head"),
    ("body-an-array", lambda t: t.update(body=[]), "body"),
    ("body-null", lambda t: t.update(body=None), "body"),
    ("no-body", lambda t: t.pop("body"), "body"),
]


@pytest.mark.parametrize(("defect", "where"), [d[1:] for d in ENVELOPE_DEFECTS], ids=[d[0] for d in ENVELOPE_DEFECTS])
def test_envelope_that_is_not_the_documented_one(
    zlb: ZlbAdapter, samples_dir: Path, defect: Callable[[dict[str, Any]], Any], where: str
) -> None:
    tree = _load(samples_dir, "case", "SC001")
    defect(tree)
    rejection = _refused(zlb, "case", _bytes(tree))
    assert (rejection.code, rejection.where) == (C.MALFORMED, where)


@pytest.mark.parametrize(
    ("record_type", "sample", "wrong"),
    [("status", "SS001", "CASE_SUBMIT"), ("evaluation", "SE001", "CASE_STATUS"), ("case", "SC002", "LICENCE_QUERY")],
)
def test_biz_type_must_name_the_record_type(
    zlb: ZlbAdapter, samples_dir: Path, record_type: str, sample: str, wrong: str
) -> None:
    tree = _load(samples_dir, record_type, sample)
    tree["head"]["bizType"] = wrong
    assert _refused(zlb, record_type, _bytes(tree)).code == C.MALFORMED


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"code": "10", "datas": {"errorCode": "CONSENT_INVALID", "field": "body.consentToken"}}, "code"),
        ({"code": "99"}, "code"),
        ({"code": 0}, "code"),
        ({"datas": None}, "datas"),
        ({"datas": [1]}, "datas"),
    ],
)
def test_licence_response_that_carries_no_licence(
    zlb: ZlbAdapter, samples_dir: Path, changes: dict[str, Any], where: str
) -> None:
    tree = {**_load(samples_dir, "licence", "SL001"), **changes}
    rejection = _refused(zlb, "licence", _bytes(tree))
    assert (rejection.code, rejection.where) == (C.MALFORMED, where)


def test_request_time_must_equal_the_query_parameter(samples_dir: Path) -> None:
    head = _load(samples_dir, "case", "SC001")["head"]
    check_request_time(head, "1750966839000")
    for query in ("1750966840000", "01750966839000", "1750966839000.0", ""):
        with pytest.raises(Refusal) as info:
            check_request_time(head, query)
        assert (info.value.code, info.value.where) == (C.RULE_VIOLATION, "head.requestTime")
    for value in ("1750966839000", 1750966839000.0, None):
        with pytest.raises(Refusal) as info:
            check_request_time({**head, "requestTime": value}, "1750966839000")
        assert info.value.code == C.RULE_VIOLATION


def test_decode_request_checks_request_time_at_the_envelope_step(zlb: ZlbAdapter, samples_dir: Path) -> None:
    raw = (samples_dir / "zlb/case/SC001.json").read_bytes()
    assert zlb.decode_request("case", raw, "1750966839000") == zlb.decode("case", raw)
    broken = _changed(samples_dir, "SC001", "case", {"caseStatus": "20"})  # a field fault comes later (step 8)
    with pytest.raises(Refusal) as info:
        zlb.decode_request("case", _bytes(broken), "1750966839001")
    assert (info.value.code, info.value.where) == (C.RULE_VIOLATION, "head.requestTime")
    broken["head"]["bizType"] = "CASE_STATUS"  # the bizType comes first
    with pytest.raises(Refusal) as info:
        zlb.decode_request("case", _bytes(broken), "1750966839001")
    assert info.value.code == C.MALFORMED
    with pytest.raises(Refusal) as info:
        zlb.decode_request("licence", raw, "1750966839000")
    assert info.value.code == C.UNSUPPORTED_TYPE


# --- JSON well-formedness (README §8) -----------------------------------------------------------------------
def _raw_case(samples_dir: Path, old: str, new: str) -> bytes:
    text = (samples_dir / "zlb/case/SC001.json").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        ('"dataVersion": 4', '"dataVersion": 4e0', C.BAD_FORMAT, "body.dataVersion"),
        ('"dataVersion": 4', '"dataVersion": 4.0', C.BAD_FORMAT, "body.dataVersion"),
        ('"caseNo": "3205002405030562129",', '"caseNo": "3205002405030562129", "caseNo": "3205002405030562130",',
         C.MALFORMED, None),
        ('"bizType": "CASE_SUBMIT"', '"bizType": "CASE_SUBMIT", "bizType": "CASE_SUBMIT"', C.MALFORMED, None),
        ('"promiseDays": 5', '"promiseDays": NaN', C.MALFORMED, None),
        ('"promiseDays": 5', '"promiseDays": Infinity', C.MALFORMED, None),
        ('"applicantName": "上海', '"applicantName": "\\ud800上海', C.MALFORMED, None),
        ('"applicantName": "上海', '"applicantName": "\\udc10上海', C.MALFORMED, None),
        ('"applicantName": "上海', '"applicantName": "\\u0001上海', C.BAD_FORMAT, "body.applicantName"),
        ('"remark": "', '"remark": "\\uffff', C.BAD_FORMAT, "body.remark"),
        ('"dataVersion": 4,', '"dataVersion": 4,,', C.MALFORMED, None),
    ],
)
def test_raw_json(zlb: ZlbAdapter, samples_dir: Path, old: str, new: str, code: C, where: str | None) -> None:
    rejection = _refused(zlb, "case", _raw_case(samples_dir, old, new))
    assert (rejection.code, rejection.where) == (code, where)


def test_byte_order_mark_is_malformed(zlb: ZlbAdapter, samples_dir: Path) -> None:
    raw = b"\xef\xbb\xbf" + (samples_dir / "zlb/case/SC001.json").read_bytes()
    assert _refused(zlb, "case", raw).code == C.MALFORMED


def test_bytes_that_are_not_utf8(zlb: ZlbAdapter, samples_dir: Path) -> None:
    raw = (samples_dir / "zlb/case/SC001.json").read_text(encoding="utf-8").encode("gb18030")
    assert _refused(zlb, "case", raw).code == C.ENCODING_MISMATCH


def test_body_over_one_mib(zlb: ZlbAdapter, samples_dir: Path) -> None:
    raw = _raw_case(samples_dir, '"remark": "', '"remark": "' + "x" * 1_048_576)
    assert _refused(zlb, "case", raw).code == C.BODY_TOO_LARGE


def test_surrogate_pair_escape_is_the_character(zlb: ZlbAdapter, samples_dir: Path) -> None:
    case = zlb.decode("case", _raw_case(samples_dir, '"applicantName": "上海', '"applicantName": "\\ud840\\udc10上海'))
    assert case.applicant.name.startswith("\U00020010上海")


# --- times (README §8) --------------------------------------------------------------------------------------
def test_beijing_midnight_is_that_day_not_the_utc_day(zlb: ZlbAdapter, samples_dir: Path) -> None:
    tree = _changed(samples_dir, "SL001", "licence", {"validBegin": 1748707200000, "validEnd": DROP})
    assert zlb.decode("licence", _bytes(tree)).valid_from == date(2025, 6, 1)
    event = zlb.decode("status", _bytes(_changed(samples_dir, "SS001", "status", {"eventTime": 1748707200000})))
    assert event.event_at == datetime(2025, 6, 1, tzinfo=BEIJING)
    assert event.event_at.astimezone(BEIJING).date() == date(2025, 6, 1)


# --- text (README §5, §8) -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["阿卜杜拉·买买提", "王\U00020010", "李㛃", "刘䶮", "\U0002a6a5·㛃䶮"])
def test_names_survive_decode_encode_decode(
    zlb: ZlbAdapter, ningbo_codes: dict[str, str], samples_dir: Path, name: str
) -> None:
    tree = _changed(samples_dir, "SC002", "case", {"applicantName": name, "agentName": name})
    first = zlb.decode("case", _bytes(tree))
    out = zlb.encode("case", first, ENVELOPE, ningbo_codes)
    again = zlb.decode("case", out)
    assert again.applicant.name == name and again.agent is not None and again.agent.name == name
    assert again == first
    assert name.encode("utf-8") in out  # JSON senders write characters as UTF-8, not escapes


@pytest.mark.parametrize(("length", "code"), [(100, None), (101, C.FIELD_TOO_LONG)])
def test_name_length_is_counted_in_code_points(
    zlb: ZlbAdapter, samples_dir: Path, length: int, code: C | None
) -> None:
    name = ("\U00020010张·" * 40)[:length]
    assert len(name) == length and len(name.encode("utf-16-le")) > 2 * 100
    raw = _bytes(_changed(samples_dir, "SC001", "case", {"applicantName": name}))
    if code is None:
        assert zlb.decode("case", raw).applicant.name == name
    else:
        rejection = _refused(zlb, "case", raw)
        assert (rejection.code, rejection.where) == (code, "body.applicantName")


# --- licence query (§6.4) -----------------------------------------------------------------------------------
def _query(biz_type: str = "LICENCE_QUERY", **body: Any) -> bytes:
    content = {"certificateIdentifier": LICENCE_ID, "useCause": "办理跨省通办事项核验", "consentToken": "a.b.c", **body}
    head = {"appKey": "k", "requestTime": 1748395200000, "requestId": "r", "bizType": biz_type}
    return _bytes({"head": head, "body": content})


def test_licence_query_request(zlb: ZlbAdapter) -> None:
    query = zlb.decode("licence_query", _query())
    assert query == LicenceQuery(LICENCE_ID, "办理跨省通办事项核验", "a.b.c")
    out = zlb.encode("licence_query", query, ENVELOPE)
    assert json.loads(out)["head"]["bizType"] == "LICENCE_QUERY"
    assert list(json.loads(out)["body"]) == ["certificateIdentifier", "useCause", "consentToken"]
    assert zlb.decode("licence_query", out) == query


def test_a_query_without_consent_decodes_for_the_licence_service_to_refuse(zlb: ZlbAdapter) -> None:
    """README §10: CONSENT_INVALID for a query "without a valid holder consent token", refused where the consent
    is checked (tests/pipeline/test_licences.py), not MISSING_FIELD at decoding."""
    assert zlb.decode("licence_query", _query(consentToken=None)).consent_token is None


@pytest.mark.parametrize(
    ("raw", "code", "where"),
    [
        (_query("CASE_SUBMIT"), C.MALFORMED, "head.bizType"),
        (_query(certificateIdentifier=LICENCE_ID[:-1] + "A"), C.LICENCE_ID_CHECKSUM, "body.certificateIdentifier"),
        (_query(consentToken=12), C.BAD_FORMAT, "body.consentToken"),
    ],
)
def test_licence_query_refusals(zlb: ZlbAdapter, raw: bytes, code: C, where: str) -> None:
    rejection = _refused(zlb, "licence_query", raw)
    assert (rejection.code, rejection.where) == (code, where)


# --- response envelopes (§4) --------------------------------------------------------------------------------
def test_parse_success_response() -> None:
    raw = '{"code":"00","msg":"成功","datas":{"receiptNo":"NB2025060200012"},"dataCount":1,"requestId":"e"}'
    response = parse_response(raw.encode())
    assert response.ok and not response.retry_later and response.rejection() is None
    assert (response.datas, response.data_count, response.request_id) == ({"receiptNo": "NB2025060200012"}, 1, "e")
    assert "NB2025" not in repr(response)


def test_parse_refusal_response() -> None:
    datas = {"errorCode": "ID_CHECKSUM", "field": "body.applicantCertNo"}
    response = parse_response(dump_response("10", datas, "e", msg="参数校验失败"))
    rejection = response.rejection()
    assert not response.ok and rejection is not None
    assert (rejection.code, rejection.where) == (C.ID_CHECKSUM, "body.applicantCertNo")
    assert response.data_count == 0


@pytest.mark.parametrize(
    ("code", "meaning"),
    [("14", C.AUTH_FAILED), ("15", C.AUTH_FAILED), ("16", C.SIGNATURE_INVALID), ("17", C.BODY_TOO_LARGE)],
)
def test_transport_refusal_codes(code: str, meaning: C) -> None:
    rejection = parse_response(f'{{"code":"{code}","msg":"x"}}'.encode()).rejection()
    assert rejection is not None and rejection.code == meaning


def test_platform_fault_is_retried_later() -> None:
    response = parse_response(b'{"code":"99","msg":"busy","requestId":"e"}')
    assert response.retry_later and response.rejection() is None


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"code":"12","msg":"x"}', "code"),
        (b'{"code":0,"msg":"x"}', "code"),
        (b'{"msg":"x"}', "code"),
        (b'{"code":"00","msg":1}', "msg"),
        (b'{"code":"00","datas":[]}', "datas"),
        (b'{"code":"00","dataCount":"1"}', "dataCount"),
        (b'{"code":"00","requestId":7}', "requestId"),
        (b'{"code":"10","datas":{"errorCode":"NOT_A_CODE"}}', "datas.errorCode"),
        (b'{"code":"10","msg":"x"}', "datas.errorCode"),
    ],
)
def test_responses_that_are_not_the_documented_envelope(raw: bytes, where: str) -> None:
    with pytest.raises(Refusal) as info:
        parse_response(raw)
    assert (info.value.code, info.value.where) == (C.MALFORMED, where)
