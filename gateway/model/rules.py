"""Cross-field rules of README §10 step 9, in the documented order, over canonical records.

A rule that fails names the reference field it is about; ``where`` turns that into the path of the message's own
dialect, so the same rule serves every dialect. Dialect-only rules on wire values (the anhui TASK_CODE rules) are
declared in the mapping files and run before these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import Refusal
from gateway.errors import RejectionCode as C

from .identifiers import parse_licence_id
from .records import Case, Evaluation, Licence, StatusEvent

__all__ = ["check_record_rules"]

Where = Callable[[str], str | None]
BAD_REVIEW_LEVELS = frozenset({"DISSATISFIED", "VERY_DISSATISFIED"})


def _fail(code: C, ref: str, where: Where, detail: str) -> Refusal:
    return Refusal(code, where(ref), detail)


def _legal_iff_uscc(kind: str, id_type: str, where: Where) -> None:
    if (kind == "LEGAL") != (id_type == "USCC"):
        raise _fail(C.RULE_VIOLATION, "applicant.id_type", where,
                    "a legal person is identified by a USCC and a natural person never is")


def _case(case: Case, item_types: Mapping[str, str], where: Where) -> None:
    if item_types.get(case.item_code) != case.item_type:
        raise _fail(C.RULE_VIOLATION, "item_type", where, "item type differs from the crosswalk's type of the item")
    applicant = case.applicant
    _legal_iff_uscc(applicant.kind, applicant.id_type, where)
    if applicant.kind == "LEGAL" and applicant.legal_rep is None:
        raise _fail(C.MISSING_FIELD, "applicant.legal_rep", where, "a legal person needs its legal representative")
    if applicant.kind == "NATURAL" and applicant.legal_rep is not None:
        raise _fail(C.RULE_VIOLATION, "applicant.legal_rep", where, "a natural person has no legal representative")
    if case.agent is not None and case.agent.id_type == "USCC":
        raise _fail(C.RULE_VIOLATION, "agent.id_type", where, "an agent is a natural person")


def _status(event: StatusEvent, where: Where) -> None:
    if event.status == "ACCEPTED" and event.promise_end is None:
        raise _fail(C.MISSING_FIELD, "promise_end", where, "an accepted case needs its promised end time")


def _evaluation(ev: Evaluation, where: Where) -> None:
    _legal_iff_uscc(ev.applicant.kind, ev.applicant.id_type, where)
    bad = ev.level in BAD_REVIEW_LEVELS
    if bad and ev.rectified is None:
        raise _fail(C.MISSING_FIELD, "rectified", where, "a bad review (差评) needs its rectification flag")
    if not bad and ev.rectified is not None:
        raise _fail(C.RULE_VIOLATION, "rectified", where, "only a bad review (差评) carries a rectification flag")
    if bad and ev.text is None:
        raise _fail(C.MISSING_FIELD, "text", where, "a bad review (差评) needs its text")


def _licence(lic: Licence, where: Where) -> None:
    parts = parse_licence_id(lic.identifier)
    if parts is not None and parts.type_code != lic.type_code:
        raise _fail(C.RULE_VIOLATION, "type_code", where, "type code differs from the identifier's type part")
    if parts is not None and parts.issuer != lic.issuer_code:
        raise _fail(C.RULE_VIOLATION, "issuer_code", where, "issuer code differs from the identifier's issuer part")
    if lic.valid_to is not None and lic.valid_to < lic.valid_from:
        raise _fail(C.RULE_VIOLATION, "valid_to", where, "validity ends before it starts")


def check_record_rules(record: Any, item_types: Mapping[str, str], where: Where) -> None:
    """Raise the first cross-field rule ``record`` breaks (README §10 step 9)."""
    if isinstance(record, Case):
        _case(record, item_types, where)
    elif isinstance(record, StatusEvent):
        _status(record, where)
    elif isinstance(record, Evaluation):
        _evaluation(record, where)
    elif isinstance(record, Licence):
        _licence(record, where)
