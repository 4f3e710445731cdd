"""The shanghai dialect (shanghai.md): SOAP 1.1 envelope, attribute-heavy records, faults and the signed element."""

from __future__ import annotations

import csv
import dataclasses
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from lxml import etree

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from adapters.shanghai.codec import (
    EX_NS,
    SOAP_ACTIONS,
    ShanghaiAdapter,
    SoapFault,
    auth_header,
    operation_element,
    read_envelope,
    read_reply,
    render_fault,
    render_report_status_response,
    render_submit_case_response,
)
from adapters.xmlwire import element_tree
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import Case, LicenceQuery, StatusEvent
from gateway.model.timefmt import BEIJING
from mappings.tables import Tables, load_tables

ENV = Envelope("m-1", datetime(2025, 6, 1, 12, 0, tzinfo=BEIJING), "r-1", "SJ-TEST-0001", "GW")
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def tables() -> Tables:
    return load_tables()


@pytest.fixture(scope="module")
def shanghai(tables: Tables) -> ShanghaiAdapter:
    return ShanghaiAdapter(tables, ("songjiang",))


@pytest.fixture(scope="module")
def anhui(tables: Tables) -> AnhuiAdapter:
    return AnhuiAdapter(tables, ("hefei", "huainan"))


def _index(samples_dir: Path) -> list[dict[str, str]]:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["dialect"] == "shanghai"]


def _text(samples_dir: Path, name: str) -> str:
    return (samples_dir / "shanghai" / name).read_text(encoding="utf-8")


def _refusal(adapter: ShanghaiAdapter, record_type: str, body: str | bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        adapter.decode(record_type, body.encode() if isinstance(body, str) else body)
    return info.value


def _item_codes(tables: Tables, record_type: str) -> dict[str, str] | None:
    return tables.crosswalk.columns["songjiang"] if record_type == "case" else None


def _business(element: Any) -> Any:
    """An element's business content: tag, attributes, text and children in order, without README §9 envelope."""
    children = [
        _business(child) for child in element
        if child.tag not in (f"{{{SOAP}}}Header", f"{{{EX_NS}}}DigitalSign")
    ]
    return element.tag, dict(element.attrib), (element.text or "").strip(), children


# --- samples ----------------------------------------------------------------------------------------------------------
def test_every_sample_decodes_and_equals_the_anhui_record(
    shanghai: ShanghaiAdapter, anhui: AnhuiAdapter, samples_dir: Path
) -> None:
    rows = _index(samples_dir)
    assert len(rows) == 9
    for row in rows:
        record = shanghai.decode(row["type"], (samples_dir / row["file"]).read_bytes())
        twin = samples_dir / "anhui" / row["type"] / f"{row['record_id']}.json"
        assert record == anhui.decode(row["type"], twin.read_bytes()), row["file"]


def test_every_sample_round_trips_and_the_writer_follows_the_document(
    shanghai: ShanghaiAdapter, tables: Tables, samples_dir: Path
) -> None:
    for row in _index(samples_dir):
        body = (samples_dir / row["file"]).read_bytes()
        record = shanghai.decode(row["type"], body)
        out = shanghai.encode(row["type"], record, ENV, _item_codes(tables, row["type"]))
        assert shanghai.decode(row["type"], out) == record, row["file"]
        mine, theirs = etree.fromstring(out), etree.fromstring(body)
        assert _business(mine) == _business(theirs), row["file"]
        # the layout is the samples' too: only the AuthHeader block (added by the wire layer) differs
        unsigned = re.sub(rb"  <soap:Header>.*?</soap:Header>\n", b"", body, flags=re.DOTALL)
        assert out == unsigned, row["file"]
        assert b"soap:Header" not in out and b"AuthHeader" not in out


def test_case_sample_values(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    case = shanghai.decode("case", (samples_dir / "shanghai/case/SC002.xml").read_bytes())
    assert isinstance(case, Case)
    assert case.item_code == "000172001000"
    assert case.status == "ACCEPTED" and case.cross_region_mode == "JOINT"
    assert case.applicant.kind == "LEGAL" and case.applicant.legal_rep == "林丽"
    assert case.agent is not None and case.agent.phone is None
    assert case.submitted_at == datetime(2025, 5, 15, 15, 1, 2, tzinfo=BEIJING)
    assert [m.copies for m in case.materials] == [2, 1, 1, 1]
    assert case.remark is None


def test_the_bad_samples_are_refused_with_their_codes(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    with (samples_dir / "bad" / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dialect"] == "shanghai"]
    assert rows
    for row in rows:
        refused = _refusal(shanghai, row["type"], (samples_dir / "bad" / row["file"]).read_bytes())
        assert refused.code == C(row["expected_error"]), row["file"]
    assert refused.where is None


def test_types_the_dialect_does_not_carry(shanghai: ShanghaiAdapter) -> None:
    assert shanghai.record_types == {"case", "status", "licence", "licence_query"}
    assert _refusal(shanghai, "evaluation", b"<x/>").code is C.UNSUPPORTED_TYPE
    assert _refusal(shanghai, "item", b"<x/>").code is C.UNSUPPORTED_TYPE
    assert shanghai.content_type == "text/xml; charset=UTF-8"


def test_licence_query_round_trips_and_matches_anhui(shanghai: ShanghaiAdapter, anhui: AnhuiAdapter) -> None:
    query = LicenceQuery(
        "1.2.156.3005.2.11340000MB0A3K7N3P017.11340100MB1F6Q3A0Y.340100202505200001.001.7", "办理 & <核验>", "tok.en"
    )
    out = shanghai.encode("licence_query", query, ENV)
    assert shanghai.decode("licence_query", out) == query
    assert anhui.decode("licence_query", anhui.encode("licence_query", query, ENV)) == query
    op = read_envelope(out).operation
    assert op.tag == f"{{{EX_NS}}}queryLicence" and op.get("useCause") == "办理 & <核验>"
    assert op.findtext(f"{{{EX_NS}}}ConsentToken") == "tok.en"
    assert SOAP_ACTIONS["licence_query"] == '"urn:sh:ywtb:exchange:2.0#queryLicence"'
    missing = out.replace(b"tok.en", b"")
    # no token is no consent: it decodes, and whoever serves the licence refuses it with CONSENT_INVALID (README §10)
    assert shanghai.decode("licence_query", missing).consent_token is None


def test_encoding_for_a_destination_without_the_item(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    case = shanghai.decode("case", (samples_dir / "shanghai/case/SC001.xml").read_bytes())
    with pytest.raises(Refusal) as info:
        shanghai.encode("case", case, ENV, {})
    assert (info.value.code, info.value.where) == (C.UNKNOWN_ITEM, "Case/@itemCode")


# --- targeted refusals of shanghai.md §1 and §5 ----------------------------------------------------------------------
def _case(samples_dir: Path, old: str = "", new: str = "", name: str = "SC002") -> str:
    text = _text(samples_dir, f"case/{name}.xml")
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    return text


def _code_where(shanghai: ShanghaiAdapter, body: str | bytes, record_type: str = "case") -> tuple[C, str | None]:
    refused = _refusal(shanghai, record_type, body)
    return refused.code, refused.where


DECL = '<?xml version="1.0" encoding="UTF-8"?>'


def test_declaration_encoding_and_byte_order_mark(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    plain = shanghai.decode("case", _case(samples_dir).encode())
    assert shanghai.decode("case", b"\xef\xbb\xbf" + _case(samples_dir).encode()) == plain
    assert shanghai.decode("case", _case(samples_dir, DECL, '<?xml version="1.0" encoding="utf8"?>').encode()) == plain
    assert shanghai.decode("case", _case(samples_dir, DECL + "\n", "").encode()) == plain  # optional (§1)
    assert shanghai.decode("case", _case(samples_dir, DECL, "<?xml version='1.0' standalone='yes'?>").encode()) == plain
    assert _code_where(shanghai, _case(samples_dir, DECL, '<?xml version="1.1"?>')) == (C.MALFORMED, None)
    assert _code_where(shanghai, _case(samples_dir, DECL, '<?xml version="1.0" standalone="yes" encoding="UTF-8"?>')
                       ) == (C.MALFORMED, None)
    assert _code_where(shanghai, _case(samples_dir, DECL, '<?xml version="1.0" encoding="GBK"?>')) == (
        C.ENCODING_MISMATCH, None)
    invalid = _case(samples_dir).encode().replace("林丽".encode(), b"\xff\xfe\xc3")
    assert _code_where(shanghai, invalid) == (C.ENCODING_MISMATCH, None)
    # the encoding is checked before the DTD (README §10 steps 3-4)
    xxe_gbk = _case(samples_dir, DECL, '<?xml version="1.0" encoding="GBK"?><!DOCTYPE x [<!ENTITY e "x">]>')
    assert _code_where(shanghai, xxe_gbk) == (C.ENCODING_MISMATCH, None)


def test_the_envelope(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    wrong_op = _case(samples_dir).replace("ex:submitCase>", "ex:reportStatus>")
    assert _code_where(shanghai, wrong_op) == (C.MALFORMED, "Envelope/Body")
    # a status event is not a case, and a case not a status event
    assert _code_where(shanghai, _text(samples_dir, "status/SS001.xml")) == (C.MALFORMED, "Envelope/Body")
    case_twice = re.sub(r"(<ex:Case .*?</ex:Case>)", r"\1\1", _case(samples_dir), flags=re.DOTALL)
    assert _code_where(shanghai, case_twice) == (C.MALFORMED, "submitCase/Case")
    no_case = re.sub(r"<ex:Case .*?</ex:Case>", "", _case(samples_dir), flags=re.DOTALL)
    assert _code_where(shanghai, no_case) == (C.MALFORMED, "submitCase/Case")
    other_ns = _case(samples_dir).replace("<ex:Case ", '<o:Case xmlns:o="urn:sh:ywtb:exchange:1.0" ').replace(
        "</ex:Case>", "</o:Case>")
    assert _code_where(shanghai, other_ns) == (C.MALFORMED, "submitCase/Case")
    soap12 = _case(samples_dir).replace(SOAP, "http://www.w3.org/2003/05/soap-envelope")
    assert _code_where(shanghai, soap12) == (C.MALFORMED, "Envelope")
    two_bodies = re.sub(r"(<soap:Body>.*</soap:Body>)", r"\1\1", _case(samples_dir), flags=re.DOTALL)
    assert _code_where(shanghai, two_bodies) == (C.MALFORMED, "Envelope/Body")
    extra_op = _case(samples_dir).replace("</soap:Body>", "<ex:submitCase/></soap:Body>")
    assert _code_where(shanghai, extra_op) == (C.MALFORMED, "Envelope/Body")
    assert _code_where(shanghai, _case(samples_dir).replace("</soap:Envelope>", "")) == (C.MALFORMED, None)


def test_prefixes_are_free_and_foreign_elements_are_ignored(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    plain = shanghai.decode("case", _case(samples_dir).encode())
    renamed = _case(samples_dir).replace("ex:", "sj:").replace("xmlns:sj=", "xmlns:ex=").replace(
        'xmlns:ex="urn:sh:ywtb:exchange:2.0"', 'xmlns:sj="urn:sh:ywtb:exchange:2.0"')
    assert "sj:Case" in renamed
    assert shanghai.decode("case", renamed.encode()) == plain
    default_ns = re.sub(r"<ex:Case ", '<Case xmlns="urn:sh:ywtb:exchange:2.0" ', _case(samples_dir)).replace(
        "</ex:Case>", "</Case>")
    assert shanghai.decode("case", default_ns.encode()) == plain
    foreign = _case(samples_dir, "<ex:Material ", '<o:Remark xmlns:o="urn:other">x</o:Remark><ex:Unknown a="1"/>'
                    '<ex:Material extra="ignored" ')
    assert shanghai.decode("case", foreign.encode()) == plain


def test_elements_occurring_twice_and_agents(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    applicant = re.search(r"<ex:Applicant [^>]*/>", _case(samples_dir))
    assert applicant is not None
    twice = _case(samples_dir, applicant[0], applicant[0] * 2)
    assert _code_where(shanghai, twice) == (C.MALFORMED, "Case/Applicant")
    agent = re.search(r"<ex:Agent [^>]*/>", _case(samples_dir))
    assert agent is not None
    assert shanghai.decode("case", _case(samples_dir, agent[0], "<ex:Agent/>").encode()).agent is None
    assert shanghai.decode("case", _case(samples_dir, agent[0], "<ex:Agent></ex:Agent>").encode()).agent is None
    phone_only = _case(samples_dir, agent[0], '<ex:Agent mobile="13800000000"/>')
    assert _code_where(shanghai, phone_only) == (C.MISSING_FIELD, "Case/Agent/@name")
    legal_agent = _case(samples_dir, agent[0], '<ex:Agent name="吴静" certType="TYDM" certNo="91340403MBCD66994U"/>')
    assert _code_where(shanghai, legal_agent) == (C.RULE_VIOLATION, "Case/Agent/@certType")
    no_applicant = _case(samples_dir, applicant[0], "")
    assert _code_where(shanghai, no_applicant) == (C.MISSING_FIELD, "Case/Applicant/@type")


def test_materials_are_repeated_elements_without_a_container(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    no_materials = re.sub(r"\s*<ex:Material [^>]*/>", "", _case(samples_dir))
    assert shanghai.decode("case", no_materials.encode()).materials == ()
    one = '<ex:Material name="申请表" copies="1"/>'
    many = re.sub(r"(\s*<ex:Material [^>]*/>)+", one * 101, _case(samples_dir))
    assert _code_where(shanghai, many) == (C.TOO_MANY_ENTRIES, "Case/Material")
    hundred = re.sub(r"(\s*<ex:Material [^>]*/>)+", one * 100, _case(samples_dir))
    assert len(shanghai.decode("case", hundred.encode()).materials) == 100
    zero_copies = _case(samples_dir, 'copies="2"', 'copies="0"')
    assert _code_where(shanghai, zero_copies) == (C.BAD_FORMAT, "Case/Material[1]/@copies")
    no_name = _case(samples_dir, 'name="营业执照副本" ', "")
    assert _code_where(shanghai, no_name) == (C.MISSING_FIELD, "Case/Material[2]/@name")


def test_field_formats(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    assert _code_where(shanghai, _case(samples_dir, 'version="2"', 'version="4.0"')) == (C.BAD_FORMAT, "Case/@version")
    offset = _case(samples_dir, 'applyTime="2025-05-15T15:01:02"', 'applyTime="2025-05-15T15:01:02+08:00"')
    assert _code_where(shanghai, offset) == (C.BAD_FORMAT, "Case/@applyTime")
    remark = _case(samples_dir, "<ex:Material ", "<ex:Remark>备注<ex:b>粗</ex:b></ex:Remark><ex:Material ")
    assert _code_where(shanghai, remark) == (C.BAD_FORMAT, "Case/Remark")
    remark_ok = _case(samples_dir, "<ex:Material ", "<ex:Remark>第一行\n第二行\t&amp;</ex:Remark><ex:Material ")
    assert shanghai.decode("case", remark_ok.encode()).remark == "第一行\n第二行\t&"
    assert _code_where(shanghai, _case(samples_dir, 'tbMode="C"', 'tbMode="D"')) == (C.UNKNOWN_CODE, "Case/@tbMode")
    unknown_item = _case(samples_dir, 'itemCode="SJ0117000172001000"', 'itemCode="000172001000"')
    assert _code_where(shanghai, unknown_item) == (C.UNKNOWN_ITEM, "Case/@itemCode")
    # fields in table order: a bad @caseNo comes before a missing @deptName (README §10 step 8)
    both = _case(samples_dir, 'caseNo="3418002405984060482"', 'caseNo="A#"').replace('deptName="宣城市城乡建设局" ', "")
    assert _code_where(shanghai, both) == (C.BAD_FORMAT, "Case/@caseNo")


def test_status_rules(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    accepted = _text(samples_dir, "status/SS002.xml")
    event = shanghai.decode("status", accepted.encode())
    assert isinstance(event, StatusEvent) and event.status == "ACCEPTED"
    assert event.promise_end == datetime(2025, 3, 25, 17, 0, tzinfo=BEIJING)
    missing = accepted.replace(' promiseEndTime="2025-03-25T17:00:00"', "")
    assert _code_where(shanghai, missing, "status") == (C.MISSING_FIELD, "StatusEvent/@promiseEndTime")
    opinion_twice = re.sub(r"(<ex:Opinion>.*?</ex:Opinion>)", r"\1\1", accepted)
    assert _code_where(shanghai, opinion_twice, "status") == (C.MALFORMED, "StatusEvent/Opinion")


def test_licence_surface_is_required(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    licence = _text(samples_dir, "licence/SL001.xml")
    no_surface = re.sub(r"\s*<ex:Surface [^>]*/>", "", licence)
    code_where = _code_where(shanghai, no_surface, "licence")
    assert code_where == (C.MISSING_FIELD, "Licence/Surface")
    sign = '<ex:DigitalSign alg="SM2" certSn="01">AAAA</ex:DigitalSign>'
    signed = licence.replace("</ex:Licence>", sign + "</ex:Licence>")
    assert shanghai.decode("licence", signed.encode()) == shanghai.decode("licence", licence.encode())


# --- text (README §8) ------------------------------------------------------------------------------------------------
def test_text_survives_byte_exactly(shanghai: ShanghaiAdapter, tables: Tables, samples_dir: Path) -> None:
    name = "阿卜杜拉·买买提𠀐㛃䶮"
    body = _case(samples_dir, 'name="淮南绿色能源有限公司"', f'name="{name}"')
    case = shanghai.decode("case", body.encode())
    assert case.applicant.name == name
    tricky = dataclasses.replace(case, remark='a\tb\nc\r d & <e> "f" \'g\'', project_name=" 前后空格 ")
    again = shanghai.decode("case", shanghai.encode("case", tricky, ENV, _item_codes(tables, "case")))
    assert again.applicant.name.encode("utf-8") == name.encode("utf-8")
    assert again == tricky
    # written as characters, not as character references
    out = shanghai.encode("case", tricky, ENV, _item_codes(tables, "case"))
    assert name.encode("utf-8") in out


def test_characters_xml_does_not_allow(shanghai: ShanghaiAdapter, tables: Tables, samples_dir: Path) -> None:
    # As a value, U+0001 fails the text check (README §8) ...
    mapping = shanghai.mapping("case")
    tree = read_envelope(_case(samples_dir).encode()).operation[0]
    values = element_tree(tree, mapping.schema(), EX_NS)
    values["Applicant"]["@name"] = "林\x01丽"
    with pytest.raises(Refusal) as info:
        mapping.decode_values(values)
    assert (info.value.code, info.value.where) == (C.BAD_FORMAT, "Case/Applicant/@name")
    # ... and writing it is refused the same way, never an lxml error
    case = shanghai.decode("case", _case(samples_dir).encode())
    bad = dataclasses.replace(case, applicant=dataclasses.replace(case.applicant, name="林\x01丽"))
    with pytest.raises(Refusal) as info:
        shanghai.encode("case", bad, ENV, _item_codes(tables, "case"))
    assert info.value.code is C.BAD_FORMAT


@pytest.mark.parametrize("ref", ["&#1;", "&#x1;", "\x01"])
def test_a_control_character_on_the_wire_is_malformed(shanghai: ShanghaiAdapter, samples_dir: Path, ref: str) -> None:
    """XML 1.0 cannot carry U+0001 at all (raw or as a reference), so such a message is not well-formed: it is
    refused at README §10 step 5 with MALFORMED, before any field (docs/decisions.md, "Characters XML cannot
    carry"). Inside a decoded tree and on encoding the same character is BAD_FORMAT (the test above)."""
    body = _case(samples_dir, 'name="淮南绿色能源有限公司"', f'name="林{ref}丽"')
    assert _code_where(shanghai, body) == (C.MALFORMED, None)


def test_lengths_are_counted_in_code_points(shanghai: ShanghaiAdapter, samples_dir: Path) -> None:
    def with_name(name: str) -> str:
        return _case(samples_dir, 'name="淮南绿色能源有限公司"', f'name="{name}"')

    hundred = "𠀐㛃" * 50
    assert len(hundred) == 100 and len(hundred.encode("utf-16-le")) // 2 == 150
    assert shanghai.decode("case", with_name(hundred).encode()).applicant.name == hundred
    assert _code_where(shanghai, with_name(hundred + "䶮")) == (C.FIELD_TOO_LONG, "Case/Applicant/@name")
    assert _code_where(shanghai, with_name("&#x20010;" * 101)) == (C.FIELD_TOO_LONG, "Case/Applicant/@name")


# --- what the wire layer needs: the signed element, AuthHeader, faults, answers (§1-§3) -----------------------------
def _sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def test_the_operation_element_is_what_the_worked_example_signs(samples_dir: Path) -> None:
    message = read_envelope((samples_dir / "shanghai/status/SS001.xml").read_bytes())
    assert operation_element(message.envelope) is message.operation
    assert message.operation_name == "reportStatus"
    c14n = etree.tostring(message.operation, method="c14n", exclusive=True, with_comments=False)
    assert len(c14n) == 359
    assert _sm3_hex(c14n) == "ae1da9172077af5ec68ff68537db2dd82ea47c3292b73509063b884731558115"
    auth = auth_header(message.envelope)
    assert auth is not None and set(auth) == {"appId", "timestamp", "nonce", "sign"}
    to_sign = "\n".join([auth["appId"], auth["timestamp"], auth["nonce"], _sm3_hex(c14n)]).encode()
    mac = hmac.HMAC(b"test-only-songjiang-secret-0001", hashes.SM3())
    mac.update(to_sign)
    assert mac.finalize().hex() == auth["sign"] == "300138e471698cbb9bb7dda758e53c61577b285041a8fe56a54665bab68943a6"


def test_every_signed_sample_verifies_through_the_operation_element(samples_dir: Path) -> None:
    for row in _index(samples_dir):
        message = read_envelope((samples_dir / row["file"]).read_bytes())
        auth = auth_header(message.envelope)
        assert auth is not None
        c14n = etree.tostring(message.operation, method="c14n", exclusive=True, with_comments=False)
        mac = hmac.HMAC(b"test-only-songjiang-secret-0001", hashes.SM3())
        mac.update("\n".join([auth["appId"], auth["timestamp"], auth["nonce"], _sm3_hex(c14n)]).encode())
        assert mac.finalize().hex() == auth["sign"], row["file"]


def test_auth_header_absent_or_doubled(shanghai: ShanghaiAdapter, tables: Tables, samples_dir: Path) -> None:
    case = shanghai.decode("case", (samples_dir / "shanghai/case/SC001.xml").read_bytes())
    unsigned = read_envelope(shanghai.encode("case", case, ENV, _item_codes(tables, "case")))
    assert auth_header(unsigned.envelope) is None
    text = _text(samples_dir, "case/SC001.xml")
    doubled = re.sub(r"(<ex:AuthHeader [^>]*/>)", r"\1\1", text)
    with pytest.raises(Refusal) as info:
        auth_header(read_envelope(doubled.encode()).envelope)
    assert (info.value.code, info.value.where) == (C.MALFORMED, "Header/AuthHeader")


def test_the_documented_fault_reads(samples_dir: Path) -> None:
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{SOAP}" xmlns:ex="{EX_NS}"><soap:Body>
<soap:Fault>
  <faultcode>soap:Client</faultcode>
  <faultstring>证件号码校验位错误</faultstring>
  <detail><ex:Error code="ID_CHECKSUM" field="Applicant/@certNo"/></detail>
</soap:Fault></soap:Body></soap:Envelope>"""
    reply = read_reply(body.encode(), "submitCase")
    assert reply.fault == SoapFault("证件号码校验位错误", "ID_CHECKSUM", "Applicant/@certNo", server=False)
    assert reply.receipt_no is None and reply.message.operation_name == "Fault"


def test_faults_round_trip() -> None:
    refused = Refusal(C.ID_CHECKSUM, "Case/Applicant/@certNo", "ID number check character is wrong")
    fault = SoapFault.from_rejection(refused)
    body = render_fault(fault)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope')
    assert read_reply(body, "submitCase").fault == fault
    assert fault == SoapFault("ID number check character is wrong", "ID_CHECKSUM", "Case/Applicant/@certNo")
    server = SoapFault("系统繁忙，请稍后重试", server=True)
    assert read_reply(render_fault(server), "reportStatus").fault == server
    assert b"<faultcode>soap:Server</faultcode>" in render_fault(server)
    assert b"<detail>" not in render_fault(server)
    op = read_envelope(render_fault(fault)).operation
    assert op.tag == f"{{{SOAP}}}Fault" and [c.tag for c in op] == ["faultcode", "faultstring", "detail"]


def test_a_fault_code_outside_the_soap_namespace_is_malformed() -> None:
    body = render_fault(SoapFault("x", "BAD_FORMAT")).replace(b"soap:Client", b"ex:Client")
    with pytest.raises(Refusal) as info:
        read_reply(body, "submitCase")
    assert (info.value.code, info.value.where) == (C.MALFORMED, "Fault/faultcode")
    other = render_fault(SoapFault("x", "BAD_FORMAT")).replace(b"soap:Client", b"soap:Sender")
    with pytest.raises(Refusal):
        read_reply(other, "submitCase")


def test_success_answers() -> None:
    submitted = read_reply(render_submit_case_response("SJ20250601000001"), "submitCase")
    assert submitted.fault is None and submitted.receipt_no == "SJ20250601000001"
    assert submitted.message.operation.tag == f"{{{EX_NS}}}submitCaseResponse"
    reported = read_reply(render_report_status_response(), "reportStatus")
    assert reported.fault is None and reported.receipt_no is None
    with pytest.raises(Refusal) as info:
        read_reply(render_report_status_response(), "submitCase")
    assert (info.value.code, info.value.where) == (C.MALFORMED, "Envelope/Body")
    no_receipt = render_submit_case_response("x").replace(b' receiptNo="x"', b"")
    with pytest.raises(Refusal) as info:
        read_reply(no_receipt, "submitCase")
    assert (info.value.code, info.value.where) == (C.MISSING_FIELD, "submitCaseResponse/@receiptNo")
