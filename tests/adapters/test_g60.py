"""The g60 dialect adapter against g60.md: samples, round trips, the §2 encoding rules, the §3 envelope and §6 fields.

Every message here is bytes made from the published samples (edited as text and re-encoded in GB18030), decoded by
the real adapter with the real code lists and crosswalk.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from platform_data import SAMPLES as SAMPLES_DIR

from adapters.anhui.codec import AnhuiAdapter
from adapters.base import Envelope
from adapters.g60.codec import (
    NS,
    G60Adapter,
    ItemBatchResult,
    ItemResult,
    Receipt,
    batch_no,
    parse_envelope,
    parse_item_batch_result,
    parse_receipt,
    render_item_batch_result,
    render_receipt,
)
from gateway.errors import UNKNOWN_PEER_CODE_FALLBACK, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import Case, LicenceQuery
from mappings.tables import Tables, load_tables

DECL = '<?xml version="1.0" encoding="GB18030"?>'
MSG_ID = "5eee5e32-9ee1-4517-a55e-add097bd4613"


@pytest.fixture(scope="module")
def tables() -> Tables:
    return load_tables()


@pytest.fixture(scope="module")
def g60(tables: Tables) -> G60Adapter:
    return G60Adapter(tables, ("g60",))


@pytest.fixture(scope="module")
def anhui(tables: Tables) -> AnhuiAdapter:
    return AnhuiAdapter(tables, ("hefei", "huainan"))


@pytest.fixture(scope="module")
def g60_codes(tables: Tables) -> dict[str, str]:
    return tables.crosswalk.columns["g60"]


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(MSG_ID, datetime(2025, 6, 25, 13, 51, 21, tzinfo=UTC), "req-1", "340100", "G60")


def _rows(samples_dir: Path, index: str) -> list[dict[str, str]]:
    with (samples_dir / index).open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh) if row["dialect"] == "g60"]


def _index() -> list[dict[str, str]]:
    return _rows(SAMPLES_DIR, "INDEX.csv") + [dict(r, bad="1") for r in _rows(SAMPLES_DIR, "bad/INDEX.csv")]


SAMPLES = [r for r in _index() if "bad" not in r]
BAD = [r for r in _index() if "bad" in r]


def _sample_text(samples_dir: Path, rel: str) -> str:
    return (samples_dir / "g60" / rel).read_bytes().decode("gb18030")


def _edit(text: str, old: str, new: str) -> bytes:
    """The sample text with ``old`` (which must occur) replaced by ``new``, encoded as the wire does."""
    if old not in text:
        raise AssertionError(f"{old!r} is not in the sample")
    return text.replace(old, new, 1).encode("gb18030")


def _refused(adapter: G60Adapter, record_type: str, body: bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        adapter.decode(record_type, body)
    return info.value


@pytest.fixture
def case_text(samples_dir: Path) -> str:
    return _sample_text(samples_dir, "case/SC001.xml")


@pytest.fixture
def item_text(samples_dir: Path) -> str:
    return _sample_text(samples_dir, "item/SI002.xml")


@pytest.fixture
def licence_text(samples_dir: Path) -> str:
    return _sample_text(samples_dir, "licence/SL002.xml")


# --- business content of a g60 message (README §9: envelope fields removed) ----------------------------------------
def _shape(element: Any) -> Any:
    ns, _, local = element.tag[1:].partition("}")
    if ns != NS or local == "DigitalSign":  # ds:Signature and Licence/DigitalSign are envelope fields
        return None
    kids = tuple(s for s in (_shape(c) for c in element if isinstance(c.tag, str)) if s is not None)
    attrs = tuple(sorted((k, v) for k, v in element.attrib.items() if k not in ("BatchNo", "Count")))
    return local, attrs, None if len(element) else (element.text or ""), kids


def _business(body: bytes) -> Any:
    text = body.decode("gb18030")
    root = etree.fromstring(text[text.index("?>") + 2 :].encode("utf-8"))
    return _shape(root.find(f"{{{NS}}}Body"))


# --- samples ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("row", SAMPLES, ids=lambda r: r["file"])
def test_sample_decodes_to_the_anhui_record(
    row: dict[str, str], samples_dir: Path, g60: G60Adapter, anhui: AnhuiAdapter
) -> None:
    record = g60.decode(row["type"], (samples_dir / row["file"]).read_bytes())
    twin = samples_dir / "anhui" / row["type"] / f"{row['record_id']}.json"
    assert twin.exists(), "every g60 record type is carried by anhui too"
    assert record == anhui.decode(row["type"], twin.read_bytes())


@pytest.mark.parametrize("row", SAMPLES, ids=lambda r: r["file"])
def test_sample_round_trip_and_business_tree(
    row: dict[str, str], samples_dir: Path, g60: G60Adapter, g60_codes: dict[str, str], envelope: Envelope
) -> None:
    body = (samples_dir / row["file"]).read_bytes()
    record = g60.decode(row["type"], body)
    encoded = g60.encode(row["type"], record, envelope, g60_codes)
    assert g60.decode(row["type"], encoded) == record
    # element order, text forms, omitted optionals and empty containers as the document's samples have them
    assert _business(encoded) == _business(body)


@pytest.mark.parametrize("row", BAD, ids=lambda r: r["file"])
def test_bad_sample_is_refused_with_its_code(row: dict[str, str], samples_dir: Path, g60: G60Adapter) -> None:
    refusal = _refused(g60, row["type"], (samples_dir / "bad" / row["file"]).read_bytes())
    assert refusal.code == C(row["expected_error"])


def test_licence_query_reference_values_by_hand(g60: G60Adapter, envelope: Envelope) -> None:
    ident = "1.2.156.3005.2.11100000MBRWWCDW01005.11340100MBDXKMKF3M.340100202435718370.002.V"
    body = (
        f'{DECL}<G60Message xmlns="{NS}"><Header><MessageType>LicenceQuery</MessageType></Header><Body>'
        f"<LicenceQuery><Identifier>{ident}</Identifier><UseCause>办件核验</UseCause>"
        "<ConsentToken>eyJ.test.only</ConsentToken></LicenceQuery></Body></G60Message>"
    ).encode("gb18030")
    query = g60.decode("licence_query", body)
    assert query == LicenceQuery(identifier=ident, use_cause="办件核验", consent_token="eyJ.test.only")
    assert g60.decode("licence_query", g60.encode("licence_query", query, envelope)) == query


def test_evaluation_is_not_carried(g60: G60Adapter, case_text: str) -> None:
    refusal = _refused(g60, "evaluation", case_text.encode("gb18030"))
    assert refusal.code is C.UNSUPPORTED_TYPE


# --- §2 encoding ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "declaration",
    [
        "<?xml version='1.0' encoding='gb18030'?>",
        '<?xml version="1.0" encoding="GB18030" standalone="yes"?>',
        '<?xml version = "1.0"\tencoding =\n"Gb18030" standalone=\'no\' ?>',
    ],
)
def test_accepted_declarations(declaration: str, g60: G60Adapter, case_text: str) -> None:
    assert isinstance(g60.decode("case", _edit(case_text, DECL, declaration)), Case)


@pytest.mark.parametrize(
    ("prefix", "declaration"),
    [
        pytest.param(b"", "", id="no-declaration"),
        pytest.param(b"", '<?xml version="1.0"?>', id="no-encoding"),
        pytest.param(b"", '<?xml version="1.0" encoding="UTF-8"?>', id="utf-8"),
        pytest.param(b"", '<?xml version="1.0" encoding="GBK"?>', id="gbk"),
        pytest.param(b"", '<?xml version="1.1" encoding="GB18030"?>', id="version-1.1"),
        pytest.param(b"", '<?xml version="1.0" standalone="yes" encoding="GB18030"?>', id="standalone-first"),
        pytest.param(b"", "<?xml version=\"1.0' encoding=\"GB18030\"?>", id="mismatched-quotes"),
        pytest.param(b"", "<?xml version=\"1.0\" encoding='GB18030\"?>", id="mismatched-encoding-quotes"),
        pytest.param(b"\x84\x31\x95\x33", DECL, id="gb18030-bom"),
        pytest.param(b"\xef\xbb\xbf", DECL, id="utf-8-bom"),
        pytest.param(b" ", DECL, id="space-before"),
    ],
)
def test_refused_declarations(prefix: bytes, declaration: str, g60: G60Adapter, case_text: str) -> None:
    refusal = _refused(g60, "case", prefix + _edit(case_text, DECL, declaration))
    assert (refusal.code, refusal.where) == (C.ENCODING_MISMATCH, None)


@pytest.mark.parametrize("garbage", [b"\x80", b"\xff", b"\x81\x30\x81"], ids=["lone-80", "ff", "cut-four-byte"])
def test_invalid_gb18030_bytes(garbage: bytes, g60: G60Adapter, case_text: str) -> None:
    body = _edit(case_text, "<Name>上海松江", "<Name>上海松江@@")
    refusal = _refused(g60, "case", body.replace(b"@@", garbage))
    assert (refusal.code, refusal.where) == (C.ENCODING_MISMATCH, None)


def test_gb18030_2005_not_2022(g60: G60Adapter, case_text: str, g60_codes: dict[str, str], envelope: Envelope) -> None:
    body = _edit(case_text, "<Name>上海松江", "<Name>@@上海松江")
    four_byte = g60.decode("case", body.replace(b"@@", b"\x95\x32\x90\x31"))
    assert four_byte.applicant.name.startswith("\U00020087")
    two_byte = g60.decode("case", body.replace(b"@@", b"\xfe\x51"))
    assert two_byte.applicant.name.startswith("\ue816")
    encoded = g60.encode("case", four_byte, envelope, g60_codes)
    assert b"\x95\x32\x90\x31" in encoded
    assert b"\xfe\x51" not in encoded


def test_numeric_character_reference_is_accepted(g60: G60Adapter, case_text: str) -> None:
    case = g60.decode("case", _edit(case_text, "<Name>上海松江", "<Name>&#x20010;上海松江"))
    assert case.applicant.name.startswith("\U00020010")


def test_doctype_is_refused_before_parsing(g60: G60Adapter, case_text: str) -> None:
    body = _edit(case_text, DECL, DECL + '<!DOCTYPE G60Message [<!ENTITY x "y">]>')
    assert _refused(g60, "case", body).code is C.XML_DTD_FORBIDDEN


def test_not_well_formed(g60: G60Adapter, case_text: str) -> None:
    refusal = _refused(g60, "case", _edit(case_text, "</Case>", "</Cas>"))
    assert refusal.code is C.MALFORMED


# --- §3 envelope ------------------------------------------------------------------------------------------------------
def test_prefixed_elements_bound_to_the_namespace(g60: G60Adapter, case_text: str) -> None:
    text = case_text.replace("<Case>", f'<g:Case xmlns:g="{NS}">').replace("</Case>", "</g:Case>")
    text = text.replace("<CaseNo>", "<g:CaseNo>").replace("</CaseNo>", "</g:CaseNo>")
    case = g60.decode("case", text.encode("gb18030"))
    assert case.case_no == "3205002405030562129"


def test_element_in_another_namespace_is_not_the_field(g60: G60Adapter, case_text: str) -> None:
    body = _edit(case_text, "<CaseNo>", '<CaseNo xmlns="urn:other">')
    refusal = _refused(g60, "case", body)
    assert (refusal.code, refusal.where) == (C.MISSING_FIELD, "Case/CaseNo")


@pytest.mark.parametrize(
    ("edits", "where"),
    [
        ([("<MessageType>CaseSubmit", "<MessageType>CaseStatus")], "Header/MessageType"),
        ([("<MessageType>CaseSubmit</MessageType>", "")], "Header/MessageType"),
        ([("<Header>", "<Header><MessageId>x</MessageId>")], "Header/MessageId"),
        ([("<SentAt>", "<SentAt><x/>")], "Header/SentAt"),
        ([("</Header>", "</Header><Header/>")], "Header"),
        ([("</Body>", "</Body><Body/>")], "Body"),
        ([("<Case>", "<StatusEvent/><Case>")], "Body"),
        ([("<Case>", "<Kase>"), ("</Case>", "</Kase>")], "Body"),
        ([(f'<G60Message xmlns="{NS}">', '<G60Message xmlns="urn:yrd:g60:ywtb:2.0">')], "G60Message"),
        ([("<G60Message", "<Message"), ("</G60Message>", "</Message>")], "G60Message"),
    ],
    ids=["wrong-type", "no-type", "header-field-twice", "header-field-children", "header-twice", "body-twice",
         "two-records", "no-record", "wrong-namespace", "wrong-root"],
)
def test_envelope_refusals(edits: list[tuple[str, str]], where: str, g60: G60Adapter, case_text: str) -> None:
    text = case_text
    for old, new in edits:
        text = _edit(text, old, new).decode("gb18030")
    refusal = _refused(g60, "case", text.encode("gb18030"))
    assert (refusal.code, refusal.where) == (C.MALFORMED, where)


def test_unlisted_elements_and_signature_are_ignored(g60: G60Adapter, licence_text: str) -> None:
    sign = '<DigitalSign Alg="SM2-SM3" UserId="1234567812345678" CertSn="01">AAAA</DigitalSign>'
    text = licence_text.replace("</Surface>", "</Surface>" + sign)
    signature = '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature>'
    body = _edit(text, "</G60Message>", signature + "<Extra>1</Extra></G60Message>")
    assert g60.decode("licence", body) == g60.decode("licence", licence_text.encode("gb18030"))


def test_parse_envelope_gives_header_values(case_text: str) -> None:
    header, root = parse_envelope(case_text.encode("gb18030"))
    assert header == {
        "MessageId": "22236452-3927-4b39-ae14-4b6f6db60837",
        "MessageType": "CaseSubmit",
        "SenderCode": "340100",
        "ReceiverCode": "G60",
        "SentAt": "20250611161901",
    }
    assert root.tag == f"{{{NS}}}G60Message"


# --- §6 fields --------------------------------------------------------------------------------------------------------
def test_empty_agent_is_no_agent(g60: G60Adapter, samples_dir: Path) -> None:
    text = _sample_text(samples_dir, "case/SC003.xml")
    case = g60.decode("case", _edit(text, "</Applicant>", "</Applicant><Agent/>"))
    assert case.agent is None


def test_agent_mobile_alone_makes_an_agent(g60: G60Adapter, samples_dir: Path) -> None:
    text = _sample_text(samples_dir, "case/SC003.xml")
    body = _edit(text, "</Applicant>", "</Applicant><Agent><Mobile>13800000000</Mobile></Agent>")
    refusal = _refused(g60, "case", body)
    assert (refusal.code, refusal.where) == (C.MISSING_FIELD, "Case/Agent/Name")


def test_empty_materials_is_an_empty_list(g60: G60Adapter, case_text: str) -> None:
    start, end = case_text.index("<Materials>"), case_text.index("</Materials>") + len("</Materials>")
    case = g60.decode("case", (case_text[:start] + "<Materials/>" + case_text[end:]).encode("gb18030"))
    assert case.materials == ()


def test_missing_materials_is_missing_field(g60: G60Adapter, case_text: str) -> None:
    start, end = case_text.index("<Materials>"), case_text.index("</Materials>") + len("</Materials>")
    refusal = _refused(g60, "case", (case_text[:start] + case_text[end:]).encode("gb18030"))
    assert (refusal.code, refusal.where) == (C.MISSING_FIELD, "Case/Materials/Material")


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        ("<CaseNo>", "<CaseNo>X12345</CaseNo><CaseNo>", C.MALFORMED, "Case"),
        ("<CaseNo>3205002405030562129", "<CaseNo><x/>", C.BAD_FORMAT, "Case/CaseNo"),
        ("<Version>4</Version>", "<Version>04.0</Version>", C.BAD_FORMAT, "Case/Version"),
        ("<Version>4</Version>", "<Version>0</Version>", C.BAD_FORMAT, "Case/Version"),
        ("<Kind>LEGAL", "<Kind>CORP", C.UNKNOWN_CODE, "Case/Applicant/Kind"),
        ("<Copies>1</Copies>\n          <FileName>", "<Copies>0</Copies><FileName>", C.BAD_FORMAT,
         "Case/Materials/Material[1]/Copies"),
        ("<ApplyTime>20250609103419", "<ApplyTime>2025-06-09 10:34:19", C.BAD_FORMAT, "Case/ApplyTime"),
        ("<HandleRegion>320500", "<HandleRegion>999999", C.UNKNOWN_REGION, "Case/HandleRegion"),
        ("<ItemType>XK", "<ItemType>GG", C.RULE_VIOLATION, "Case/ItemType"),
    ],
    ids=["case-no-twice", "case-no-children", "version-04.0", "version-0", "unknown-kind", "copies-0",
         "apply-time-format", "unknown-region", "item-type-rule"],
)
def test_case_field_refusals(old: str, new: str, code: C, where: str, g60: G60Adapter, case_text: str) -> None:
    refusal = _refused(g60, "case", _edit(case_text, old, new))
    assert (refusal.code, refusal.where) == (code, where)


def test_empty_surface_is_missing_field(g60: G60Adapter, licence_text: str) -> None:
    start, end = licence_text.index("<Surface>"), licence_text.index("</Surface>") + len("</Surface>")
    refusal = _refused(g60, "licence", (licence_text[:start] + "<Surface/>" + licence_text[end:]).encode("gb18030"))
    assert (refusal.code, refusal.where) == (C.MISSING_FIELD, "Licence/Surface/Entry")


def test_surface_entry_key_and_text(g60: G60Adapter, licence_text: str) -> None:
    licence = g60.decode("licence", licence_text.encode("gb18030"))
    assert (licence.surface[0].name, licence.surface[0].value) == ("持证主体", "合肥供应链管理有限公司")
    refusal = _refused(g60, "licence", _edit(licence_text, '<Entry Key="经营场所">', "<Entry>"))
    assert (refusal.code, refusal.where) == (C.MISSING_FIELD, "Licence/Surface/Entry[2]/@Key")


# --- §6.4 item batches ----------------------------------------------------------------------------------------------
def _item_block(item_text: str) -> str:
    return item_text[item_text.index("<Item>") : item_text.index("</Item>") + len("</Item>")]


def _batch(item_text: str, items: list[str], count: str) -> bytes:
    start, end = item_text.index("<ItemBatch "), item_text.index("</ItemBatch>") + len("</ItemBatch>")
    batch = f'<ItemBatch BatchNo="B1" Count="{count}">' + "".join(items) + "</ItemBatch>"
    return (item_text[:start] + batch + item_text[end:]).encode("gb18030")


@pytest.mark.parametrize(
    ("n", "count", "code", "where"),
    [
        (501, "501", C.BATCH_TOO_LARGE, "ItemBatch"),
        (0, "0", C.MISSING_FIELD, "ItemBatch/Item"),
        (2, "1", C.RULE_VIOLATION, "ItemBatch/@Count"),
        (2, "02", C.RULE_VIOLATION, "ItemBatch/@Count"),
    ],
    ids=["501-items", "no-item", "count-mismatch", "count-not-decimal"],
)
def test_batch_counts(n: int, count: str, code: C, where: str, g60: G60Adapter, item_text: str) -> None:
    bad_field = _item_block(item_text).replace("<UseLevel>3", "<UseLevel>7")  # the counts come first (§10 step 7)
    refusal = _refused(g60, "item", _batch(item_text, [bad_field] * n, count))
    assert (refusal.code, refusal.where) == (code, where)


def test_batch_of_500_decodes(g60: G60Adapter, item_text: str) -> None:
    batch = g60.decode("item", _batch(item_text, [_item_block(item_text)] * 500, "500"))
    assert len(batch.items) == 500


def test_use_level_7_is_unknown_code_at_its_item(g60: G60Adapter, item_text: str) -> None:
    good = _item_block(item_text)
    bad = good.replace("<UseLevel>3", "<UseLevel>7")
    refusal = _refused(g60, "item", _batch(item_text, [good, bad], "2"))
    assert (refusal.code, refusal.where) == (C.UNKNOWN_CODE, "ItemBatch/Item[2]/UseLevel")


def test_items_are_checked_in_order(g60: G60Adapter, item_text: str) -> None:
    good = _item_block(item_text)
    first = good.replace("<Online>true", "<Online>1")
    second = good.replace("<CatalogCode>153059818000", "<CatalogCode>x")
    refusal = _refused(g60, "item", _batch(item_text, [first, second], "2"))
    assert (refusal.code, refusal.where) == (C.BAD_FORMAT, "ItemBatch/Item[1]/Online")


# --- text (README §8) ------------------------------------------------------------------------------------------------
def test_names_survive_byte_exactly(
    g60: G60Adapter, case_text: str, g60_codes: dict[str, str], envelope: Envelope
) -> None:
    name = "阿卜杜拉·买买提\U00020010\u36c3\u4dae"
    case = g60.decode("case", _edit(case_text, "<Name>上海松江文化传媒有限公司", f"<Name>{name}"))
    assert case.applicant.name == name
    encoded = g60.encode("case", case, envelope, g60_codes)
    for wire in (b"\xa1\xa4", b"\x95\x32\x84\x32", b"\x82\x30\xb7\x31", b"\xfe\x9f"):  # §2, README §8
        assert wire in encoded
    assert g60.decode("case", encoded).applicant.name == name


@pytest.mark.parametrize("written", ["\x01", "&#x1;"], ids=["raw", "reference"])
def test_control_character_makes_the_document_malformed(written: str, g60: G60Adapter, case_text: str) -> None:
    """XML 1.0 cannot carry U+0001 at all: step 5 (well-formedness) refuses it (docs/decisions.md)."""
    refusal = _refused(g60, "case", _edit(case_text, "<Name>上海松江", f"<Name>上海{written}松江"))
    assert refusal.code is C.MALFORMED


@pytest.mark.parametrize(("length", "code"), [(100, None), (101, C.FIELD_TOO_LONG)])
def test_applicant_name_length_in_code_points(length: int, code: C | None, g60: G60Adapter, case_text: str) -> None:
    name = ("\U00020010" + "张·" * 60)[:length]
    body = _edit(case_text, "<Name>上海松江文化传媒有限公司", f"<Name>{name}")
    if code is None:
        assert g60.decode("case", body).applicant.name == name
    else:
        refusal = _refused(g60, "case", body)
        assert (refusal.code, refusal.where) == (code, "Case/Applicant/Name")


# --- rendering --------------------------------------------------------------------------------------------------------
def test_render_envelope(g60: G60Adapter, case_text: str, g60_codes: dict[str, str], envelope: Envelope) -> None:
    case = g60.decode("case", case_text.encode("gb18030"))
    encoded = g60.encode("case", case, envelope, g60_codes)
    assert encoded.startswith(b'<?xml version="1.0" encoding="GB18030"?>')
    assert f'<G60Message xmlns="{NS}"><Header>'.encode() in encoded
    header, _ = parse_envelope(encoded)
    assert header == {"MessageId": MSG_ID, "MessageType": "CaseSubmit", "SenderCode": "340100",
                      "ReceiverCode": "G60", "SentAt": "20250625215121"}  # 13:51:21 UTC is 21:51:21 in Beijing
    assert G60Adapter.content_type == "application/xml; charset=GB18030"


def test_render_to_a_destination_without_the_item(
    g60: G60Adapter, case_text: str, envelope: Envelope
) -> None:
    case = g60.decode("case", case_text.encode("gb18030"))
    with pytest.raises(Refusal) as info:
        g60.encode("case", case, envelope, {})
    assert (info.value.code, info.value.where) == (C.UNKNOWN_ITEM, "Case/CatalogCode")


def test_render_batch_number_and_count(g60: G60Adapter, item_text: str, envelope: Envelope) -> None:
    batch = g60.decode("item", _batch(item_text, [_item_block(item_text)] * 3, "3"))
    encoded = g60.encode("item", batch, envelope)
    assert b'<ItemBatch BatchNo="B5EEE5E32" Count="3">' in encoded
    assert batch_no("dd2aea5c-34e7-477b-a6a5-821d0b64a84d") == "BDD2AEA5C"


@pytest.mark.parametrize(("n", "code"), [(0, C.MISSING_FIELD), (501, C.BATCH_TOO_LARGE)])
def test_render_refuses_batch_sizes(n: int, code: C, g60: G60Adapter, item_text: str, envelope: Envelope) -> None:
    item = g60.decode("item", item_text.encode("gb18030")).items[0]
    with pytest.raises(Refusal) as info:
        g60.render("item", [g60.mapping("item").encode(item)] * n, envelope)
    assert (info.value.code, info.value.where) == (code, "ItemBatch")


def test_render_needs_an_aware_sent_at(g60: G60Adapter, licence_text: str) -> None:
    licence = g60.decode("licence", licence_text.encode("gb18030"))
    with pytest.raises(ValueError, match="aware"):
        g60.encode("licence", licence, Envelope(MSG_ID, datetime(2025, 6, 25, 21, 51, 21), "r"))


# --- Receipt (§7) and ItemBatchResult (§9) ---------------------------------------------------------------------------
def test_receipt_round_trip(envelope: Envelope) -> None:
    accepted = Receipt.accept("22236452-3927-4b39-ae14-4b6f6db60837")
    body = render_receipt(accepted, envelope)
    assert parse_envelope(body)[0]["MessageType"] == "Receipt"
    assert b"<ErrorCode>" not in body
    assert parse_receipt(body) == accepted
    rejected = Receipt.reject("m-1", Refusal(C.UNKNOWN_CODE, "Case/Applicant/CertType", "证件类型代码不在代码表中"))
    assert parse_receipt(render_receipt(rejected, envelope)) == rejected
    assert rejected.error_code is C.UNKNOWN_CODE


def test_receipt_refusals(envelope: Envelope, case_text: str) -> None:
    body = render_receipt(Receipt.reject("m-1", Refusal(C.MALFORMED)), envelope).decode("gb18030")
    # a code README §10 does not list is the peer's refusal all the same (issue 13): the documented fallback
    assert parse_receipt(_edit(body, "<ErrorCode>MALFORMED", "<ErrorCode>NOPE")).error_code is (
        UNKNOWN_PEER_CODE_FALLBACK
    )
    with pytest.raises(Refusal) as info:
        parse_receipt(_edit(body, "<ErrorCode>MALFORMED</ErrorCode>", ""))
    assert (info.value.code, info.value.where) == (C.MISSING_FIELD, "Receipt/ErrorCode")
    with pytest.raises(Refusal) as info:
        parse_receipt(case_text.encode("gb18030"))
    assert (info.value.code, info.value.where) == (C.MALFORMED, "Header/MessageType")


def test_item_batch_result_round_trip(envelope: Envelope) -> None:
    result = ItemBatchResult("B1A2B3C4D", (
        ItemResult("000172001000", "340100", True),
        ItemResult("000131005000", "330400", True),
        ItemResult("000000000001", "330400", False, C.USCC_CHECKSUM, "Item/DeptCode"),
    ))
    body = render_item_batch_result(result, envelope)
    assert b'Accepted="2" Rejected="1"' in body
    assert parse_item_batch_result(body) == result
    tampered = body.replace(b'Accepted="2"', b'Accepted="3"')
    with pytest.raises(Refusal) as info:
        parse_item_batch_result(tampered)
    assert (info.value.code, info.value.where) == (C.RULE_VIOLATION, "ItemBatchResult")


def test_item_batch_result_document_example() -> None:
    example = (
        f'{DECL}\n<G60Message xmlns="{NS}"><Header><MessageType>ItemBatchResult</MessageType></Header><Body>'
        '<ItemBatchResult BatchNo="B1A2B3C4D" Accepted="2" Rejected="1">'
        '<Result CatalogCode="000172001000" Region="340100" Status="OK"/>'
        '<Result CatalogCode="000131005000" Region="330400" Status="OK"/>'
        '<Result CatalogCode="000000000001" Region="330400" Status="REJECTED" ErrorCode="USCC_CHECKSUM" '
        'ErrorPath="Item/DeptCode"/></ItemBatchResult></Body></G60Message>'
    ).encode("gb18030")
    result = parse_item_batch_result(example)
    assert (result.batch_no, result.accepted, result.rejected) == ("B1A2B3C4D", 2, 1)
    assert result.results[2] == ItemResult("000000000001", "330400", False, C.USCC_CHECKSUM, "Item/DeptCode")
