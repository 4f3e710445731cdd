"""Property tests: any valid canonical record survives encode → decode in every dialect that carries it.

The strategies make records that pass every rule of README §5-§10 on purpose: rare characters (outside the BMP,
CJK Extension A, GB18030 four-byte), minority and foreign names with ``·``, every kind of personal document
(resident ID, passport, HK/MO and TW permits, the 2023 foreign permanent-residence card, USCC), Beijing midnight
and the epoch as instants, empty and full lists.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import Envelope
from gateway.model.identifiers import USCC_ALPHABET, gb11643_check_char, gb32100_check_char, mod37_36
from gateway.model.records import (
    Agent,
    Applicant,
    Case,
    Evaluation,
    Evaluator,
    Item,
    ItemBatch,
    ItemMaterial,
    Licence,
    Material,
    StatusEvent,
    SurfaceEntry,
)
from gateway.model.timefmt import BEIJING
from mappings.tables import load_tables

TABLES = load_tables()
ENV = Envelope("3f2504e0-4f89-11d3-9a0c-0305e82c3301", datetime(2025, 6, 1, tzinfo=BEIJING), "req-1", "TONGBAN", "G60")
EVERYWHERE = sorted(
    basic
    for basic in TABLES.crosswalk.item_type
    if all(basic in TABLES.crosswalk.columns[c] for c in ("hefei", "huainan", "g60", "ningbo", "changsha", "songjiang"))
)
REGIONS = sorted(TABLES.regions.platform)

# XML 1.0 characters (README §8), rare ones made likely
RARE = "·𠀐𪚥㛃䶮𠂇\t\n\r \"'<>&"
chars = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")).filter(lambda c: c not in "\ufffe\uffff"),
    st.sampled_from(RARE),
)


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=1, max_size=max_size)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


uscc = st.text(USCC_ALPHABET, min_size=17, max_size=17).map(lambda b: b + gb32100_check_char(b))
case_no = st.from_regex(r"[0-9A-Za-z_\-]{6,32}", fullmatch=True)
phone = st.from_regex(r"[0-9+\-() ]{5,20}", fullmatch=True)
sha = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
small_int = st.integers(0, 999_999_999)
positive = st.integers(1, 999_999_999)
birth = st.dates(date(1900, 1, 1), date(2025, 12, 31))


@st.composite
def resident_id(draw: st.DrawFn, first: str = "") -> str:
    area = first + draw(st.from_regex(f"[0-9]{{{6 - len(first)}}}", fullmatch=True))
    body = area + draw(birth).strftime("%Y%m%d") + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    return body + gb11643_check_char(body)


natural_document = st.one_of(
    st.tuples(st.just("RESIDENT_ID"), resident_id()),
    st.tuples(st.just("FOREIGN_PR"), resident_id("9")),
    st.tuples(st.just("PASSPORT"), st.from_regex(r"[A-Z0-9]{5,17}", fullmatch=True)),
    st.tuples(st.just("HKMO_PERMIT"), st.from_regex(r"[HM][0-9]{8}([0-9]{2})?", fullmatch=True)),
    st.tuples(st.just("TW_PERMIT"), st.from_regex(r"[0-9]{8}", fullmatch=True)),
)
instants = st.one_of(
    st.datetimes(datetime(1970, 1, 1), datetime(2099, 12, 31)).map(lambda d: d.replace(microsecond=0)),
    st.sampled_from([datetime(1970, 1, 1, 8), datetime(2025, 6, 1), datetime(2025, 5, 31, 23, 59, 59)]),
).map(lambda d: d.replace(tzinfo=BEIJING))


def code(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(TABLES.codes[name].to_wire["g60"] or TABLES.codes[name].to_wire["anhui"]))


@st.composite
def applicants(draw: st.DrawFn) -> Applicant:
    if draw(st.booleans()):
        return Applicant(
            "LEGAL",
            draw(text(100)),
            "USCC",
            draw(uscc),
            draw(text(50)),
            draw(optional(phone)),
            draw(optional(text(200))),
        )
    id_type, number = draw(natural_document)
    return Applicant(
        "NATURAL", draw(text(100)), id_type, number, None, draw(optional(phone)), draw(optional(text(200)))
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    item = draw(st.sampled_from(EVERYWHERE))
    agent = None
    if draw(st.booleans()):
        id_type, number = draw(natural_document)
        agent = Agent(draw(text(100)), id_type, number, draw(optional(phone)))
    materials = draw(st.lists(st.builds(Material, text(200), positive, optional(text(128)), optional(sha)), max_size=4))
    return Case(
        case_no=draw(case_no),
        item_code=item,
        item_name=draw(text(200)),
        item_type=TABLES.crosswalk.item_type[item],
        handling_region=draw(st.sampled_from(REGIONS)),
        project_name=draw(text(300)),
        cross_region_mode=draw(code("cross_region_mode")),
        applicant=draw(applicants()),
        dept_code=draw(uscc),
        dept_name=draw(text(100)),
        submitted_at=draw(instants),
        status=draw(code("case_status")),
        version=draw(positive),
        materials=tuple(materials),
        national_case_no=draw(optional(case_no)),
        agent=agent,
        promise_days=draw(optional(small_int)),
        remark=draw(optional(text(1000))),
    )


@st.composite
def statuses(draw: st.DrawFn) -> StatusEvent:
    status = draw(code("case_status"))
    promise_end = draw(instants) if status == "ACCEPTED" else draw(optional(instants))
    return StatusEvent(
        draw(case_no),
        draw(positive),
        status,
        draw(instants),
        draw(st.sampled_from(REGIONS)),
        draw(uscc),
        draw(text(100)),
        draw(optional(text(500))),
        promise_end,
        draw(optional(licence_ids())),
    )


@st.composite
def licence_ids(draw: st.DrawFn) -> str:
    type_code = draw(uscc) + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    issuer = draw(uscc)
    serial = draw(st.from_regex(r"[0-9A-Za-z]{1,32}", fullmatch=True))
    version = draw(st.integers(1, 999))
    body = f"{type_code}{issuer}{serial.upper()}{version:03d}"
    return f"1.2.156.3005.2.{type_code}.{issuer}.{serial}.{version:03d}.{mod37_36(body)}"


@st.composite
def licences(draw: st.DrawFn) -> Licence:
    identifier = draw(licence_ids())
    parts = identifier.split(".")
    valid_from = draw(st.dates(date(1971, 1, 1), date(2090, 1, 1)))
    valid_to = draw(optional(st.integers(0, 3650).map(lambda d: valid_from + timedelta(days=d))))
    if draw(st.booleans()):
        holder_type, holder = "USCC", draw(uscc)
    else:
        holder_type, holder = draw(natural_document)
    surface = draw(st.lists(st.builds(SurfaceEntry, text(50), text(500)), min_size=1, max_size=4))
    return Licence(
        identifier,
        draw(text(100)),
        parts[5],
        draw(text(64)),
        draw(text(100)),
        holder_type,
        holder,
        draw(text(100)),
        parts[6],
        draw(st.sampled_from(["330200", "110105", "440300"])),
        draw(st.dates(date(1971, 1, 1), date(2090, 1, 1))),
        valid_from,
        draw(code("licence_status")),
        tuple(surface),
        valid_to,
        draw(optional(licence_ids())),
    )


@st.composite
def evaluations(draw: st.DrawFn) -> Evaluation:
    level = draw(st.sampled_from(sorted(TABLES.codes["evaluation_level"].to_wire["anhui"])))
    bad = level in ("DISSATISFIED", "VERY_DISSATISFIED")
    if draw(st.booleans()):
        who = Evaluator("LEGAL", draw(text(100)), "USCC", draw(uscc), draw(optional(phone)))
    else:
        id_type, number = draw(natural_document)
        who = Evaluator("NATURAL", draw(text(100)), id_type, number, draw(optional(phone)))
    item = draw(st.sampled_from(EVERYWHERE))
    return Evaluation(
        eval_id=draw(case_no),
        case_no=draw(case_no),
        item_code=item,
        item_name=draw(text(200)),
        dept_code=draw(uscc),
        dept_name=draw(text(100)),
        region=draw(st.sampled_from(REGIONS)),
        applicant=who,
        case_status=draw(code("case_status")),
        channel=draw(st.sampled_from(sorted(TABLES.codes["evaluation_channel"].to_wire["anhui"]))),
        level=level,
        labels=tuple(draw(st.lists(text(20), max_size=10))),
        evaluated_at=draw(instants),
        text=draw(text(500)) if bad else draw(optional(text(500))),
        rectified=draw(st.booleans()) if bad else None,
    )


@st.composite
def item_batches(draw: st.DrawFn) -> ItemBatch:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        dept = draw(uscc)
        items.append(
            Item(
                draw(st.from_regex(r"[0-9]{12}", fullmatch=True)),
                draw(text(200)),
                draw(code("item_type")),
                dept,
                draw(text(100)),
                draw(st.integers(1, 6)),
                draw(st.sampled_from(REGIONS)),
                draw(small_int),
                draw(small_int),
                draw(st.booleans()),
                draw(st.booleans()),
                draw(positive),
                draw(code("catalog_operation")),
                draw(instants),
                tuple(draw(st.lists(st.builds(ItemMaterial, text(200), st.booleans()), max_size=3))),
            )
        )
    return ItemBatch(tuple(items))


STRATEGIES = {
    "case": cases(),
    "status": statuses(),
    "licence": licences(),
    "evaluation": evaluations(),
    "item": item_batches(),
}
CARRIED = [
    (d, t)
    for d, types in {
        "anhui": ("case", "status", "licence", "evaluation", "item"),
        "g60": ("case", "status", "licence", "item"),
        "zlb": ("case", "status", "licence", "evaluation"),
        "hunan": ("case", "status"),
        "shanghai": ("case", "status", "licence"),
    }.items()
    for t in types
]


@pytest.mark.parametrize(("dialect", "record_type"), CARRIED)
def test_encode_then_decode_gives_the_same_record(registry: Any, dialect: str, record_type: str) -> None:
    adapter = registry.adapter(dialect)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STRATEGIES[record_type])
    def round_trip(record: Any) -> None:
        body = adapter.encode(record_type, record, ENV, registry.item_codes(dialect, record))
        assert adapter.decode(record_type, body) == record

    round_trip()


@pytest.mark.parametrize("record_type", sorted(STRATEGIES))
def test_outbox_json_gives_back_the_same_record(record_type: str) -> None:
    from gateway.model import canonical_json

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(STRATEGIES[record_type])
    def round_trip(record: Any) -> None:
        assert canonical_json.loads(record_type, canonical_json.dumps(record)) == record

    round_trip()
