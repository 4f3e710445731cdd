"""The hunan dialect (hunan.md): samples, round trips, the document's own rules, text, and the §1/§4 bodies.

Bytes in, record out: every test feeds real JSON bytes (the published samples or variants of them) to the real
adapter with the real code lists and crosswalk.
"""

from __future__ import annotations

import copy
import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from adapters.hunan.codec import (
    PROBLEM_TITLES,
    HunanAdapter,
    HunanProblem,
    Receipt,
    parse_problem,
    parse_receipt,
    receipt_status,
    render_problem,
    render_receipt,
)
from gateway.errors import UNKNOWN_PEER_CODE_FALLBACK, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.identifiers import gb11643_check_char
from gateway.model.timefmt import BEIJING
from mappings.tables import Tables, load_tables

ENVELOPE = Envelope(message_id="msg-0001", sent_at=datetime(2025, 6, 1, 9, 0, tzinfo=BEIJING), request_id="req-0001")
AGENT_USCC = "11320500MBYNYFCG7Q"  # a valid USCC (SC001's department), here misused as an agent's number


# --- fixtures ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables() -> Tables:
    return load_tables()


@pytest.fixture(scope="module")
def hunan(tables: Tables) -> HunanAdapter:
    return HunanAdapter(tables, ("changsha",))


@pytest.fixture(scope="module")
def anhui(tables: Tables) -> AnhuiAdapter:
    return AnhuiAdapter(tables, ("hefei", "huainan"))


@pytest.fixture(scope="module")
def changsha_codes(tables: Tables) -> dict[str, str]:
    return tables.crosswalk.columns["changsha"]


def _index(samples_dir: Path, dialect: str) -> list[tuple[str, str, str]]:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8", newline="") as fh:
        return [(r["record_id"], r["type"], r["file"]) for r in csv.DictReader(fh) if r["dialect"] == dialect]


def _sample_tree(samples_dir: Path, record_type: str, record_id: str) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads((samples_dir / "hunan" / record_type / f"{record_id}.json").read_bytes())
    return tree


def _bytes(tree: Any) -> bytes:
    return json.dumps(tree, ensure_ascii=False).encode("utf-8")


def _refused(adapter: HunanAdapter, record_type: str, body: bytes | dict[str, Any]) -> Refusal:
    with pytest.raises(Refusal) as info:
        adapter.decode(record_type, body if isinstance(body, bytes) else _bytes(body))
    return info.value


@pytest.fixture
def org_case(samples_dir: Path) -> dict[str, Any]:
    """SC001: an organisation applicant with legal representative and an agent."""
    return _sample_tree(samples_dir, "case", "SC001")


@pytest.fixture
def person_case(samples_dir: Path) -> dict[str, Any]:
    """SC003: a natural person without an agent."""
    return _sample_tree(samples_dir, "case", "SC003")


@pytest.fixture
def accepted_event(samples_dir: Path) -> dict[str, Any]:
    """SS002: an accepted status event with its promised completion time."""
    return _sample_tree(samples_dir, "status", "SS002")


# --- samples --------------------------------------------------------------------------------------------------------
def test_index_lists_the_hunan_samples(samples_dir: Path) -> None:
    rows = _index(samples_dir, "hunan")
    assert {t for _, t, _ in rows} == {"case", "status"}
    assert len(rows) == 7


def test_every_sample_decodes_to_the_anhui_record(samples_dir: Path, hunan: HunanAdapter, anhui: AnhuiAdapter) -> None:
    for record_id, record_type, file in _index(samples_dir, "hunan"):
        ours = hunan.decode(record_type, (samples_dir / file).read_bytes())
        theirs = anhui.decode(record_type, (samples_dir / "anhui" / record_type / f"{record_id}.json").read_bytes())
        assert ours == theirs, record_id


def test_sample_values_by_hand(samples_dir: Path, hunan: HunanAdapter) -> None:
    case = hunan.decode("case", (samples_dir / "hunan/case/SC003.json").read_bytes())
    assert case.item_code == "000172001000"
    assert (case.item_type, case.cross_region_mode, case.status) == ("LICENSING", "PROXY", "REJECTED")
    assert (case.applicant.kind, case.applicant.id_type) == ("NATURAL", "RESIDENT_ID")
    assert case.submitted_at == datetime(2025, 6, 3, 8, 15, 37, tzinfo=BEIJING)
    assert case.agent is None
    assert case.promise_days == 7


def test_round_trip_and_business_tree(samples_dir: Path, hunan: HunanAdapter, changsha_codes: dict[str, str]) -> None:
    for record_id, record_type, file in _index(samples_dir, "hunan"):
        body = (samples_dir / file).read_bytes()
        record = hunan.decode(record_type, body)
        encoded = hunan.encode(record_type, record, ENVELOPE, changsha_codes)
        assert hunan.decode(record_type, encoded) == record, record_id
        # hunan has no body envelope (README §9: only HTTP headers), so the whole tree is business content;
        # dumping without sorting compares key order, number vs string and omitted optionals too.
        assert json.dumps(json.loads(encoded), ensure_ascii=False) == json.dumps(
            json.loads(body), ensure_ascii=False
        ), record_id


def test_render_ignores_the_envelope_values(samples_dir: Path, hunan: HunanAdapter) -> None:
    record = hunan.decode("status", (samples_dir / "hunan/status/SS003.json").read_bytes())
    other = Envelope("msg-0002", datetime(2030, 1, 1, tzinfo=BEIJING), "req-0002", "gw", "changsha")
    assert hunan.encode("status", record, ENVELOPE) == hunan.encode("status", record, other)
    assert hunan.content_type == "application/json"


def test_encode_writes_utf8_and_empty_materials(
    person_case: dict[str, Any], hunan: HunanAdapter, changsha_codes: dict[str, str]
) -> None:
    person_case["materials"] = []
    record = hunan.decode("case", _bytes(person_case))
    out = hunan.encode("case", record, ENVELOPE, changsha_codes)
    tree = json.loads(out)
    assert tree["materials"] == []
    assert "agent" not in tree
    assert "罗丽".encode() in out


def test_encode_for_a_destination_without_the_item(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    record = hunan.decode("case", _bytes(person_case))
    with pytest.raises(Refusal) as info:
        hunan.encode("case", record, ENVELOPE, {})
    assert (info.value.code, info.value.where) == (C.UNKNOWN_ITEM, "item_code")


def test_bad_samples(samples_dir: Path, hunan: HunanAdapter) -> None:
    with (samples_dir / "bad" / "INDEX.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dialect"] == "hunan"]
    assert rows
    for row in rows:
        err = _refused(hunan, row["type"], (samples_dir / "bad" / row["file"]).read_bytes())
        assert err.code == C(row["expected_error"]), row["file"]


@pytest.mark.parametrize("record_type", ["item", "licence", "licence_query", "evaluation"])
def test_types_changsha_does_not_carry(record_type: str, hunan: HunanAdapter, org_case: dict[str, Any]) -> None:
    assert _refused(hunan, record_type, org_case).code is C.UNSUPPORTED_TYPE
    with pytest.raises(Refusal) as info:
        hunan.encode(record_type, object(), ENVELOPE)
    assert info.value.code is C.UNSUPPORTED_TYPE


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xef\xbb\xbf{}", C.MALFORMED),
        (b"[]", C.MALFORMED),
        (b'{"case_no":"a","case_no":"b"}', C.MALFORMED),
        ('{"remark":"长沙"}'.encode("gb18030"), C.ENCODING_MISMATCH),
        (b'{"applicant":{"name":"\\ud840"}}', C.MALFORMED),
    ],
)
def test_reading_before_the_fields(body: bytes, code: C, hunan: HunanAdapter) -> None:
    assert _refused(hunan, "case", body).code is code


# --- times (README §8, hunan.md §6) --------------------------------------------------------------------------------
@pytest.mark.parametrize("wire", ["2025-06-03T00:15:37Z", "2025-06-02T19:15:37-05:00", "2025-06-03T08:15:37+08:00"])
def test_any_offset_becomes_beijing_time(
    wire: str, person_case: dict[str, Any], hunan: HunanAdapter, changsha_codes: dict[str, str]
) -> None:
    person_case["submitted_at"] = wire
    case = hunan.decode("case", _bytes(person_case))
    assert case.submitted_at == datetime(2025, 6, 3, 8, 15, 37, tzinfo=BEIJING)
    assert case.submitted_at.utcoffset() == timedelta(hours=8)
    out = json.loads(hunan.encode("case", case, ENVELOPE, changsha_codes))
    assert out["submitted_at"] == "2025-06-03T08:15:37+08:00"


@pytest.mark.parametrize(
    "wire",
    [
        "2025-06-03T08:15:37.000+08:00",
        "2025-06-03t08:15:37+08:00",
        "2025-06-03T00:15:37z",
        "2025-06-03T08:15:37",
        "2025-06-03 08:15:37+08:00",
        "2025-02-30T08:15:37+08:00",
        "2025-06-03T08:15:37+0800",
    ],
)
def test_bad_times(wire: str, person_case: dict[str, Any], accepted_event: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["submitted_at"] = wire
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.BAD_FORMAT, "submitted_at")
    accepted_event["promised_completion_at"] = wire
    err = _refused(hunan, "status", accepted_event)
    assert (err.code, err.where) == (C.BAD_FORMAT, "promised_completion_at")


# --- the agent (hunan.md §6, §6.1 rules) ---------------------------------------------------------------------------
@pytest.mark.parametrize("agent", [{}, None])
def test_empty_or_null_agent_is_no_agent(agent: Any, org_case: dict[str, Any], hunan: HunanAdapter) -> None:
    org_case["agent"] = agent
    assert hunan.decode("case", _bytes(org_case)).agent is None


def test_agent_phone_alone_makes_an_agent(org_case: dict[str, Any], hunan: HunanAdapter) -> None:
    org_case["agent"] = {"phone": "13800000000"}
    err = _refused(hunan, "case", org_case)
    assert (err.code, err.where) == (C.MISSING_FIELD, "agent.name")


def test_agent_is_a_natural_person(org_case: dict[str, Any], hunan: HunanAdapter) -> None:
    org_case["agent"].update(id_type="uscc", id_number=AGENT_USCC)
    err = _refused(hunan, "case", org_case)
    assert (err.code, err.where) == (C.RULE_VIOLATION, "agent.id_type")


# --- applicant rules ----------------------------------------------------------------------------------------------
def test_individual_with_uscc(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["applicant"].update(id_type="uscc", id_number=AGENT_USCC)
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.RULE_VIOLATION, "applicant.id_type")


def test_organization_needs_its_legal_representative(org_case: dict[str, Any], hunan: HunanAdapter) -> None:
    del org_case["applicant"]["legal_representative"]
    err = _refused(hunan, "case", org_case)
    assert (err.code, err.where) == (C.MISSING_FIELD, "applicant.legal_representative")


def test_individual_has_no_legal_representative(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["applicant"]["legal_representative"] = "林丽"
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.RULE_VIOLATION, "applicant.legal_representative")


def _with_id(case: dict[str, Any], id_type: str, number: str) -> dict[str, Any]:
    case["applicant"].update(id_type=id_type, id_number=number)
    return case


@pytest.mark.parametrize("number", ["H12345678", "M1234567801"])
def test_hkmo_permit_accepted(number: str, person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    case = hunan.decode("case", _bytes(_with_id(person_case, "hkmo_permit", number)))
    assert (case.applicant.id_type, case.applicant.id_number) == ("HKMO_PERMIT", number)


def _gb11643(first17: str) -> str:
    return first17 + gb11643_check_char(first17)


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("hkmo_permit", "H1234567"),
        ("foreign_pr", _gb11643("81000019800101001")),  # right check character, wrong leading digit
        ("resident_id", "34010419700205811x"),  # SC003's number with a lower-case x
        ("resident_id", _gb11643("34052419800230001")),  # right check character, no 30 February
    ],
)
def test_id_number_shapes(id_type: str, number: str, person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    err = _refused(hunan, "case", _with_id(person_case, id_type, number))
    assert (err.code, err.where) == (C.BAD_FORMAT, "applicant.id_number")


def test_foreign_pr_starting_with_9_accepted(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    number = _gb11643("91000019800101001")
    assert hunan.decode("case", _bytes(_with_id(person_case, "foreign_pr", number))).applicant.id_number == number


def test_id_checksum(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    err = _refused(hunan, "case", _with_id(person_case, "resident_id", "340104197002058110"))
    assert (err.code, err.where) == (C.ID_CHECKSUM, "applicant.id_number")


# --- materials and numbers -------------------------------------------------------------------------------------------
def test_materials_missing_null_and_empty(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["materials"] = []
    assert hunan.decode("case", _bytes(person_case)).materials == ()
    for value in (None, "absent"):
        if value is None:
            person_case["materials"] = None
        else:
            del person_case["materials"]
        err = _refused(hunan, "case", person_case)
        assert (err.code, err.where) == (C.MISSING_FIELD, "materials")


def test_entry_count_comes_before_the_fields(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    entry = person_case["materials"][0]
    person_case["materials"] = [entry] * 100
    assert len(hunan.decode("case", _bytes(person_case)).materials) == 100
    person_case["materials"] = [entry] * 101
    person_case["case_no"] = "#bad"
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.TOO_MANY_ENTRIES, "materials")


def test_material_entry_path(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["materials"].append({"name": "营业执照副本", "copies": 0})
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.BAD_FORMAT, "materials[1].copies")


@pytest.mark.parametrize("version", [0, "4", 4.0, -1])
def test_bad_version(version: Any, person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["version"] = version
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.BAD_FORMAT, "version")


def test_codes_are_strings(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["status"] = 3
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.BAD_FORMAT, "status")
    person_case["status"] = "NOT_ACCEPTED"
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.UNKNOWN_CODE, "status")


def test_item_code_is_the_changsha_code(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["item_code"] = "000172001000"  # the 基本编码 itself is not Changsha's code
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.UNKNOWN_ITEM, "item_code")


def test_accepted_needs_the_promised_completion(accepted_event: dict[str, Any], hunan: HunanAdapter) -> None:
    del accepted_event["promised_completion_at"]
    err = _refused(hunan, "status", accepted_event)
    assert (err.code, err.where) == (C.MISSING_FIELD, "promised_completion_at")


def test_status_sequence_and_department(accepted_event: dict[str, Any], hunan: HunanAdapter) -> None:
    event = hunan.decode("status", _bytes(accepted_event))
    assert (event.seq, event.status, event.dept_code) == (4, "ACCEPTED", "11330200MB2GBNKY76")
    accepted_event["department"] = {"code": "11330200MB2GBNKY76"}
    err = _refused(hunan, "status", accepted_event)
    assert (err.code, err.where) == (C.MISSING_FIELD, "department.name")


# --- text (README §5, §8) ---------------------------------------------------------------------------------------------
NAME = "阿卜杜拉·买买提𠀐㛃䶮"


def test_name_survives_byte_exactly(
    person_case: dict[str, Any], hunan: HunanAdapter, changsha_codes: dict[str, str]
) -> None:
    person_case["applicant"]["name"] = NAME
    first = hunan.decode("case", _bytes(person_case))
    again = hunan.decode("case", hunan.encode("case", first, ENVELOPE, changsha_codes))
    assert again.applicant.name == NAME
    assert again.applicant.name.encode("utf-8") == NAME.encode("utf-8")
    assert [hex(ord(c)) for c in NAME[4:5] + NAME[-3:]] == ["0xb7", "0x20010", "0x36c3", "0x4dae"]


def test_escaped_surrogate_pair_is_accepted(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    body = json.dumps(person_case, ensure_ascii=True).replace("\\u7f57\\u4e3d", "\\ud840\\udc10").encode()
    assert hunan.decode("case", body).applicant.name == "𠀐"


def test_control_character_is_bad_format(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["applicant"]["name"] = "罗\u0001丽"
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.BAD_FORMAT, "applicant.name")


def test_name_length_counts_code_points(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    person_case["applicant"]["name"] = "𠀐" * 50 + "·" + "罗" * 49
    assert len(hunan.decode("case", _bytes(person_case)).applicant.name) == 100
    person_case["applicant"]["name"] += "𠀐"
    err = _refused(hunan, "case", person_case)
    assert (err.code, err.where) == (C.FIELD_TOO_LONG, "applicant.name")


# --- §1 receipts ------------------------------------------------------------------------------------------------------
def test_receipt_round_trip() -> None:
    receipt = Receipt("3418002405489972220", datetime(2025, 6, 3, 0, 15, 37, tzinfo=UTC))
    body = render_receipt(receipt)
    assert json.loads(body) == {"case_no": "3418002405489972220", "received_at": "2025-06-03T08:15:37+08:00"}
    back = parse_receipt(body)
    assert back == receipt
    assert back.received_at.utcoffset() == timedelta(hours=8)


def test_receipt_with_another_offset() -> None:
    back = parse_receipt(b'{"case_no":"3418002405489972220","received_at":"2025-06-03T02:15:37+02:00"}')
    assert back.received_at == datetime(2025, 6, 3, 8, 15, 37, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        (b'{"received_at":"2025-06-03T08:15:37+08:00"}', C.MISSING_FIELD, "case_no"),
        (b'{"case_no":"34#18","received_at":"2025-06-03T08:15:37+08:00"}', C.BAD_FORMAT, "case_no"),
        (b'{"case_no":"3418002405489972220","received_at":"2025-06-03T08:15:37.5+08:00"}', C.BAD_FORMAT,
         "received_at"),
        (b'{"case_no":"3418002405489972220"', C.MALFORMED, None),
    ],
)
def test_bad_receipts(body: bytes, code: C, where: str | None) -> None:
    with pytest.raises(Refusal) as info:
        parse_receipt(body)
    assert (info.value.code, info.value.where) == (code, where)


def test_receipt_status() -> None:
    assert (receipt_status("case"), receipt_status("status")) == (201, 202)
    assert receipt_status("case", repeated=True) == receipt_status("status", repeated=True) == 200
    with pytest.raises(Refusal) as info:
        receipt_status("licence")
    assert info.value.code is C.UNSUPPORTED_TYPE


# --- §4 problem documents ---------------------------------------------------------------------------------------------
DOC_EXAMPLE = (
    '{"type":"https://kstb.hunan.gov.cn/problems/ID_CHECKSUM","title":"证件号码校验位错误","status":422,'
    '"code":"ID_CHECKSUM","field":"applicant.id_number","case_no":"4301002506000000123"}'
).encode()


def test_problem_document_of_section_4() -> None:
    rejection = Refusal(C.ID_CHECKSUM, "applicant.id_number")
    assert render_problem(rejection, case_no="4301002506000000123") == DOC_EXAMPLE
    assert parse_problem(DOC_EXAMPLE) == HunanProblem(422, C.ID_CHECKSUM, "applicant.id_number", "4301002506000000123")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (C.MALFORMED, 400), (C.ENCODING_MISMATCH, 400), (C.AUTH_FAILED, 401), (C.SIGNATURE_INVALID, 401),
        (C.REPLAYED, 401), (C.BODY_TOO_LARGE, 413), (C.MISSING_FIELD, 422), (C.TOO_MANY_ENTRIES, 422),
        (C.RULE_VIOLATION, 422), (C.UNKNOWN_ITEM, 422),
    ],
)
def test_problem_status_per_section_4(code: C, status: int) -> None:
    doc = json.loads(render_problem(Refusal(code, None, "why")))
    assert (doc["status"], doc["code"], doc["type"].rsplit("/", 1)[1]) == (status, code.value, code.value)
    assert "field" not in doc
    problem = parse_problem(render_problem(Refusal(code, "materials")))
    rejection = problem.rejection()
    assert rejection is not None
    assert (problem.status, rejection.code, rejection.where) == (status, code, "materials")


def test_every_code_has_a_title() -> None:
    assert set(PROBLEM_TITLES) == set(C)


def test_problem_never_carries_the_refused_value(person_case: dict[str, Any], hunan: HunanAdapter) -> None:
    number = "340104197002058110"
    err = _refused(hunan, "case", _with_id(person_case, "resident_id", number))
    body = render_problem(err, case_no=person_case["case_no"])
    assert number.encode() not in body
    assert number not in str(err) + repr(err)


def test_platform_fault_without_code() -> None:
    problem = parse_problem(b'{"type":"about:blank","title":"Service Unavailable","status":503}')
    assert (problem.code, problem.platform_fault, problem.rejection()) == (None, True, None)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"status":422,"title":"x"}', "code"),
        (b'{"status":422,"code":["ID_CHECKSUM"]}', "code"),
        (b'{"status":"422","code":"ID_CHECKSUM"}', "status"),
        (b'{"status":200,"code":"ID_CHECKSUM"}', "status"),
        (b'{"status":422,"code":"ID_CHECKSUM","field":7}', "field"),
    ],
)
def test_bad_problem_documents(body: bytes, where: str) -> None:
    with pytest.raises(Refusal) as info:
        parse_problem(body)
    assert (info.value.code, info.value.where) == (C.MALFORMED, where)


def test_a_peer_code_not_in_readme_s10_is_the_documented_fallback_not_malformed() -> None:
    """Issue 13: a peer's unknown code (``NOT_FOUND``) is parsed once, to ``UNKNOWN_PEER_CODE_FALLBACK``."""
    problem = parse_problem(b'{"status":422,"code":"NOT_FOUND","field":"x"}')
    assert (problem.code, problem.field) == (UNKNOWN_PEER_CODE_FALLBACK, "x")


def test_decoded_cases_are_independent(org_case: dict[str, Any], hunan: HunanAdapter) -> None:
    twin = copy.deepcopy(org_case)
    twin["version"] = 5
    one, two = hunan.decode("case", _bytes(org_case)), hunan.decode("case", _bytes(twin))
    assert one != two
    assert (one.idempotency_key, two.idempotency_key) == ("3205002405030562129:4", "3205002405030562129:5")


def test_translated_from_anhui_equals_the_hunan_sample(registry: Any, samples_dir: Path) -> None:
    from gateway.translate import translate

    for record_id, record_type, file in _index(samples_dir, "hunan"):
        anhui_body = (samples_dir / "anhui" / record_type / f"{record_id}.json").read_bytes()
        out = translate(registry, "hefei", "changsha", record_type, anhui_body, ENVELOPE)
        mine, theirs = json.loads(out), json.loads((samples_dir / file).read_bytes())
        assert json.dumps(mine, ensure_ascii=False) == json.dumps(theirs, ensure_ascii=False), record_id
