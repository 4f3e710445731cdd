"""Which field names carry personal data, learnt from the mapping files rather than typed by hand.

Every dialect mapping (``mappings/<dialect>/<record>.toml``) names each wire field's reference field (``ref``). The
reference fields that are personal data (README §5, PIPL) are fixed here once; the wire names that carry them are
read from the TOML files at import, so a new dialect's field names are covered the day its mapping is added.

A wire name is matched in one of two ways:

* **anywhere**: the name (``APPLYNAME``, ``applicantCertNo``, ``holderName``, ``legal_representative``) never names
  a non-personal field in any mapping, so its value is personal wherever the key appears;
* **nested**: the name is generic (g60 ``Applicant/Name``, hunan ``applicant.name``, shanghai ``Holder/@name``) and
  also names non-personal fields (``Materials/Material/Name``, licence ``Name``), so it is personal only directly
  under its parent (``Applicant``, ``Agent``, ``Holder``, ``applicant``, ``agent``).

``safe`` names are the identifier fields that stay readable in logs (case numbers, item codes, department and issuer
USCCs, licence identifiers): values under them are not scanned for ID-number shapes, because an 18-digit case number
made of a region, a date and a sequence looks exactly like a resident ID number.

The reference names themselves (``applicant.id_number``, ``holder_code``) are included as if they were one more
dialect, so canonical records logged as dicts are covered too.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import mappings

__all__ = [
    "CATALOGUE",
    "MAPPINGS_DIR",
    "FieldCatalogue",
    "FieldKind",
    "build_catalogue",
    "kind_of_ref",
]

MAPPINGS_DIR = Path(mappings.__file__).resolve().parent


class FieldKind(enum.StrEnum):
    """How a personal value is masked (see :mod:`gateway.observability.masking`)."""

    NAME = "name"
    ID = "id"
    PHONE = "phone"
    ADDRESS = "address"
    CREDENTIAL = "credential"
    OTHER = "other"


# README §5: the personal reference fields. agent.* is personal except its code-list fields (id_type, kind);
# consent_token (anhui.md §6.6) is a bearer credential, masked whole like a secret.
_BY_SUFFIX: Mapping[str, FieldKind] = {
    "name": FieldKind.NAME,
    "legal_rep": FieldKind.NAME,
    "id_number": FieldKind.ID,
    "phone": FieldKind.PHONE,
    "address": FieldKind.ADDRESS,
}
_TOP_LEVEL: Mapping[str, FieldKind] = {
    "holder_name": FieldKind.NAME,
    "holder_code": FieldKind.ID,
    "consent_token": FieldKind.CREDENTIAL,
}
_CODE_SUFFIXES = frozenset({"id_type", "kind"})

# Identifier reference fields that are not personal and must stay readable (README §5, §7.3, §7.4).
_SAFE_REFS = frozenset(
    {
        "case_no",
        "national_case_no",
        "eval_id",
        "item_code",
        "dept_code",
        "issuer_code",
        "type_code",
        "identifier",
        "associated_id",
        "licence_id",
        "handling_region",
        "region",
        "area_code",
    }
)

_SEGMENT = re.compile(r"[./]")


def kind_of_ref(ref: str) -> FieldKind | None:
    """The mask kind of a reference field, or None when the field is not personal data."""
    if ref in _TOP_LEVEL:
        return _TOP_LEVEL[ref]
    head, _, suffix = ref.partition(".")
    if head == "applicant" and suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    if head == "agent" and suffix and suffix not in _CODE_SUFFIXES:
        return _BY_SUFFIX.get(suffix, FieldKind.OTHER)
    return None


def _leaf_and_parent(path: str) -> tuple[str, str | None]:
    """``Applicant/@certNo`` → (``certNo``, ``Applicant``); ``Surface/Entry[]/#text`` → (``Entry``, ``Surface``)."""
    parts = [p.replace("[]", "").lstrip("@") for p in _SEGMENT.split(path) if p and p != "#text"]
    parts = [p for p in parts if p and not p.startswith("#")]
    if not parts:
        return "", None
    return parts[-1], (parts[-2] if len(parts) > 1 else None)


@dataclass(frozen=True, slots=True)
class FieldCatalogue:
    """Personal and safe wire names, with the parent a generic name needs."""

    anywhere: Mapping[str, FieldKind]
    nested: Mapping[str, Mapping[str, FieldKind]]
    safe: frozenset[str]
    dialects: tuple[str, ...]
    record_types: tuple[str, ...]

    def kind(self, key: str, parent: str | None = None) -> FieldKind | None:
        """The mask kind of ``key`` seen directly under ``parent`` (None: not personal)."""
        kind = self.anywhere.get(key)
        if kind is None and parent is not None:
            kind = self.nested.get(parent, {}).get(key)
        return kind

    def is_safe(self, key: str) -> bool:
        return key in self.safe


def _pairs(files: Iterable[Path]) -> tuple[list[tuple[str, str, str | None]], set[str], set[str]]:
    """(path, ref, root) of every mapped field, the dialect names and the record types."""
    rows: list[tuple[str, str, str | None]] = []
    dialects: set[str] = set()
    records: set[str] = set()
    for file in files:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
        if file.name == "dialect.toml":
            dialects.add(file.parent.name)
            continue
        if isinstance(data.get("record"), str):
            records.add(data["record"])
        for field in data.get("field", []):
            path, ref = field.get("path"), field.get("ref")
            if isinstance(path, str) and isinstance(ref, str):
                rows.append((path, ref, data.get("root")))
    return rows, dialects, records


def build_catalogue(mappings_dir: Path = MAPPINGS_DIR) -> FieldCatalogue:
    """Read every ``<dialect>/<record>.toml`` under ``mappings_dir`` into a :class:`FieldCatalogue`."""
    rows, dialects, records = _pairs(sorted(mappings_dir.glob("*/*.toml")))
    rows += [(ref, ref, None) for ref in {ref for _, ref, _ in rows} | set(_TOP_LEVEL)]  # the reference names
    personal: list[tuple[str, str | None, FieldKind]] = []
    plain_leaves: set[str] = set()
    safe: set[str] = set()
    for path, ref, _root in rows:
        leaf, parent = _leaf_and_parent(path)
        kind = kind_of_ref(ref)
        if kind is not None:
            personal.append((leaf, parent, kind))
        else:
            plain_leaves.add(leaf)
            if ref in _SAFE_REFS:
                safe.add(leaf)
    anywhere: dict[str, FieldKind] = {}
    nested: dict[str, dict[str, FieldKind]] = {}
    for leaf, parent, kind in personal:
        if leaf not in plain_leaves:
            anywhere.setdefault(leaf, kind)
        elif parent is not None:
            nested.setdefault(parent, {}).setdefault(leaf, kind)
        else:  # a generic name with no parent to tell: mask it everywhere (over-masking beats leaking)
            anywhere.setdefault(leaf, kind)
    personal_leaves = {leaf for leaf, _, _ in personal}
    return FieldCatalogue(
        anywhere=MappingProxyType(anywhere),
        nested=MappingProxyType({p: MappingProxyType(d) for p, d in nested.items()}),
        safe=frozenset(safe - personal_leaves),
        dialects=tuple(sorted(dialects)),
        record_types=tuple(sorted(records)),
    )


CATALOGUE: FieldCatalogue = build_catalogue()
"""The catalogue of the mappings shipped with the gateway, read once at import."""
