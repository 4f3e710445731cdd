"""The canonical records: the reference fields of README §5 as frozen dataclasses.

Every dialect maps to and from these. Codes hold reference values (``NATURAL``, ``RESIDENT_ID``, ``ACCEPTED``),
items their 12-digit 基本编码, times aware datetimes in Beijing time, dates ``datetime.date``. Text is kept exactly
as received: nothing here normalises, trims or folds (§8). Optional fields are ``None`` when absent; lists are
tuples, in order. Equality of two records is "the same record" of README §9.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

__all__ = [
    "MAPPED_TYPES",
    "RECORD_TYPES",
    "Agent",
    "Applicant",
    "Case",
    "Evaluation",
    "Evaluator",
    "Item",
    "ItemBatch",
    "ItemMaterial",
    "Licence",
    "LicenceQuery",
    "Material",
    "Record",
    "StatusEvent",
    "SurfaceEntry",
    "from_ref",
    "to_ref",
]


@dataclass(frozen=True, slots=True)
class Applicant:
    kind: str
    name: str
    id_type: str
    id_number: str
    legal_rep: str | None = None
    phone: str | None = None
    address: str | None = None

    def __repr__(self) -> str:  # personal data never reaches a log through repr
        return f"Applicant(kind={self.kind!r}, id_type={self.id_type!r}, …)"


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    id_type: str
    id_number: str
    phone: str | None = None

    def __repr__(self) -> str:
        return f"Agent(id_type={self.id_type!r}, …)"


@dataclass(frozen=True, slots=True)
class Material:
    name: str
    copies: int
    file_name: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    case_no: str
    item_code: str
    item_name: str
    item_type: str
    handling_region: str
    project_name: str
    cross_region_mode: str
    applicant: Applicant
    dept_code: str
    dept_name: str
    submitted_at: datetime
    status: str
    version: int
    materials: tuple[Material, ...]
    national_case_no: str | None = None
    agent: Agent | None = None
    promise_days: int | None = None
    remark: str | None = None

    @property
    def idempotency_key(self) -> str:
        """README §9: ``case_no`` + ``version``."""
        return f"{self.case_no}:{self.version}"


@dataclass(frozen=True, slots=True)
class StatusEvent:
    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    case_no: str
    seq: int
    status: str
    event_at: datetime
    handling_region: str
    dept_code: str
    dept_name: str
    opinion: str | None = None
    promise_end: datetime | None = None
    licence_id: str | None = None

    @property
    def idempotency_key(self) -> str:
        """README §9: ``case_no`` + ``seq``."""
        return f"{self.case_no}:{self.seq}"


@dataclass(frozen=True, slots=True)
class ItemMaterial:
    name: str
    required: bool


@dataclass(frozen=True, slots=True)
class Item:
    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    item_code: str
    item_name: str
    item_type: str
    dept_code: str
    dept_name: str
    level: int
    region: str
    legal_days: int
    promise_days: int
    online: bool
    cross_province: bool
    version: int
    operation: str
    updated_at: datetime
    materials: tuple[ItemMaterial, ...]


@dataclass(frozen=True, slots=True)
class ItemBatch:
    """A catalogue page (anhui) or an ``ItemBatch`` (g60): the unit in which items travel."""

    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class SurfaceEntry:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Licence:
    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    identifier: str
    name: str
    type_code: str
    number: str
    holder_name: str
    holder_id_type: str
    holder_code: str
    issuer_name: str
    issuer_code: str
    area_code: str
    issue_date: date
    valid_from: date
    status: str
    surface: tuple[SurfaceEntry, ...]
    valid_to: date | None = None
    associated_id: str | None = None

    def __repr__(self) -> str:
        return f"Licence(identifier={self.identifier!r}, status={self.status!r}, …)"


@dataclass(frozen=True, slots=True)
class LicenceQuery:
    """A licence query: the identifier, the cause and the holder's consent token (anhui.md §6.4, §6.6)."""

    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    identifier: str
    use_cause: str
    consent_token: str | None = None  # absent: refused with CONSENT_INVALID by whoever serves the licence

    def __repr__(self) -> str:
        return f"LicenceQuery(identifier={self.identifier!r}, …)"


@dataclass(frozen=True, slots=True)
class Evaluator:
    kind: str
    name: str
    id_type: str
    id_number: str
    phone: str | None = None

    def __repr__(self) -> str:
        return f"Evaluator(kind={self.kind!r}, id_type={self.id_type!r}, …)"


@dataclass(frozen=True, slots=True)
class Evaluation:
    nested: ClassVar[dict[str, tuple[type, bool]]] = {}
    eval_id: str
    case_no: str
    item_code: str
    item_name: str
    dept_code: str
    dept_name: str
    region: str
    applicant: Evaluator
    case_status: str
    channel: str
    level: str
    labels: tuple[str, ...]
    evaluated_at: datetime
    text: str | None = None
    rectified: bool | None = None

    @property
    def idempotency_key(self) -> str:
        """README §9 and the issue: ``eval_id``."""
        return self.eval_id

    @property
    def is_bad_review(self) -> bool:
        """差评: 不满意 or 非常不满意 (README §5.5)."""
        return self.level in ("DISSATISFIED", "VERY_DISSATISFIED")


Case.nested.update(applicant=(Applicant, False), agent=(Agent, False), materials=(Material, True))
Item.nested.update(materials=(ItemMaterial, True))
ItemBatch.nested.update(items=(Item, True))
Licence.nested.update(surface=(SurfaceEntry, True))
Evaluation.nested.update(applicant=(Evaluator, False), labels=(str, True))

Record = Case | StatusEvent | ItemBatch | Licence | LicenceQuery | Evaluation

#: record type name (as the documents and the CLI say it) → canonical class
RECORD_TYPES: dict[str, type[Any]] = {
    "case": Case,
    "status": StatusEvent,
    "item": ItemBatch,
    "licence": Licence,
    "licence_query": LicenceQuery,
    "evaluation": Evaluation,
}

#: record type name → the class one mapping file builds (an item mapping builds one ``Item`` of a batch)
MAPPED_TYPES: dict[str, type[Any]] = {**RECORD_TYPES, "item": Item}

T = TypeVar("T")


def from_ref(cls: type[T], values: dict[str, Any]) -> T:
    """Build a record from a nested dict of reference values (the mapping engine's output)."""
    return builder(cls)(dict(values))


_BUILDERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def builder(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """A function building ``cls`` from a dict of reference values, consuming the dict (no copy: the hot path of
    decoding; use ``from_ref`` to keep the dict). Built once per class."""
    made = _BUILDERS.get(cls)
    if made is not None:
        return made
    nested: dict[str, tuple[type, bool]] = getattr(cls, "nested", {})
    parts: list[tuple[str, Callable[[dict[str, Any]], Any] | None, bool]] = [
        (name, None if sub is str else builder(sub), is_list) for name, (sub, is_list) in nested.items()
    ]

    def build(values: dict[str, Any]) -> T:
        for name, sub_build, is_list in parts:
            raw = values.get(name)
            if raw is None:
                continue
            if is_list:
                values[name] = tuple(raw) if sub_build is None else tuple(map(sub_build, raw))
            elif sub_build is not None:
                values[name] = sub_build(raw)
        return cls(**values)

    _BUILDERS[cls] = build
    return build


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: value types kept as they are (exact types: a subclass takes the general path below)
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, datetime, date})


def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass's field names in order, looked up once per class (``fields`` builds a tuple on every call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def to_ref(record: Any) -> dict[str, Any]:
    """The record as a nested dict of reference values, absent optionals left out (for JSON and hashing)."""
    out: dict[str, Any] = {}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if value is None:
            continue
        if type(value) in _PLAIN:  # most fields: no tuple or dataclass test
            out[name] = value
        elif isinstance(value, tuple):
            out[name] = [v if isinstance(v, str) else to_ref(v) for v in value]
        elif hasattr(value, "__dataclass_fields__"):
            out[name] = to_ref(value)
        else:
            out[name] = value
    return out
