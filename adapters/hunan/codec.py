"""The hunan dialect (hunan.md): the Changsha site of the Hunan government-service network (长江经济带跨省通办专区).

Cases and status events travel as bare JSON objects, no envelope (§6): the record object is the whole body, so
``parse`` is the strict JSON reader of README §8 and ``render`` writes the record tree as it is. The field tables
are ``mappings/hunan/case.toml`` and ``status.toml``; Changsha carries no items, licences or evaluations (README
§2), so those types are ``UNSUPPORTED_TYPE`` because no mapping exists for them.

Besides the records, this module gives the wire layer's bodies of §1 and §4: the success receipt
``{"case_no","received_at"}`` and the RFC 9457 problem document, both ways. Authentication (§2) and the RFC 9421
signature headers (§3) belong to the wire-scheme layer; nothing here reads the clock or makes ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import PROBLEM_CONTENT_TYPE, Refusal, Side, peer_code
from gateway.errors import RejectionCode as C
from mappings import formats as fmt

from ..base import DialectAdapter, Envelope
from ..jsonwire import dump_json, parse_json

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_TITLES",
    "PROBLEM_TYPE_BASE",
    "HunanAdapter",
    "HunanProblem",
    "Receipt",
    "parse_problem",
    "parse_receipt",
    "receipt_status",
    "render_problem",
    "render_receipt",
]

#: §4: the problem ``type`` is this base followed by the rejection code
PROBLEM_TYPE_BASE = "https://kstb.hunan.gov.cn/problems/"

#: §4: the problem ``title`` in the platform's language (the document prints the one for ID_CHECKSUM)
PROBLEM_TITLES: dict[C, str] = {
    C.BODY_TOO_LARGE: "请求体超过大小限制",
    C.AUTH_FAILED: "客户端认证失败",
    C.SIGNATURE_INVALID: "报文签名缺失或无效",
    C.REPLAYED: "时间戳超出窗口或随机数重复",
    C.UNSUPPORTED_TYPE: "不支持的记录类型",
    C.ENCODING_MISMATCH: "字符编码错误",
    C.XML_DTD_FORBIDDEN: "禁止文档类型或实体声明",
    C.MALFORMED: "报文格式错误",
    C.BATCH_TOO_LARGE: "批次记录数超过上限",
    C.TOO_MANY_ENTRIES: "列表条目数超过上限",
    C.MISSING_FIELD: "必填字段缺失",
    C.BAD_FORMAT: "字段类型或格式错误",
    C.FIELD_TOO_LONG: "字段长度超过上限",
    C.UNKNOWN_CODE: "代码不在代码表中",
    C.UNKNOWN_ITEM: "事项编码未知或未开通",
    C.UNKNOWN_REGION: "区划代码不在服务范围内",
    C.ID_CHECKSUM: "证件号码校验位错误",
    C.USCC_CHECKSUM: "统一社会信用代码校验位错误",
    C.LICENCE_ID_CHECKSUM: "证照标识校验位错误",
    C.RULE_VIOLATION: "字段间规则校验不通过",
    C.CONSENT_INVALID: "持证人授权无效",
}

# §1: 201 for a new case, 202 for a new status event, 200 for a repeated (case_no, version/sequence)
_RECEIPT_STATUS = {"case": 201, "status": 202}
_DEC_TIME, _ENC_TIME = fmt.DATETIME_WIRES["rfc3339"]


class HunanAdapter(DialectAdapter):
    """Cases and status events as bare snake_case JSON objects (hunan.md §6)."""

    name = "hunan"
    content_type = "application/json"  # §1: UTF-8, no charset parameter in the document's examples

    def parse(self, record_type: str, body: bytes) -> Any:
        """README §10 steps 3-5 (UTF-8, strict JSON, one object); §6 has no envelope and no batches."""
        return parse_json(body)

    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        """The record object itself: the envelope values travel in HTTP headers, added by the wire scheme (§3)."""
        return dump_json(tree)


# --- §1 success receipt ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    """The success body of §1: the platform's acknowledgement of a case or status event."""

    case_no: str
    received_at: datetime


def receipt_status(record_type: str, *, repeated: bool = False) -> int:
    """The HTTP status of a success (§1): 201 case, 202 status event, 200 for a repeated idempotency key."""
    if record_type not in _RECEIPT_STATUS:
        raise Refusal(C.UNSUPPORTED_TYPE, None, f"the hunan dialect does not carry {record_type} records")
    return 200 if repeated else _RECEIPT_STATUS[record_type]


def render_receipt(receipt: Receipt) -> bytes:
    """``{"case_no","received_at"}`` with the time in RFC 3339 ``+08:00`` (README §8: senders write +08:00)."""
    return dump_json({"case_no": receipt.case_no, "received_at": _ENC_TIME(receipt.received_at)})


def _member(tree: dict[str, Any], key: str, check: Any) -> Any:
    raw = tree.get(key)
    if raw is None or raw == "":
        raise Refusal(C.MISSING_FIELD, key, "required member is absent or empty")
    try:
        return check(raw)
    except fmt.Fail as fail:
        raise Refusal(fail.code, key, "member does not have the documented format") from None


def parse_receipt(body: bytes) -> Receipt:
    """A §1 success body; the same strict JSON and field checks as a record (times converted to Beijing)."""
    tree = parse_json(body)
    return Receipt(_member(tree, "case_no", fmt.case_no), _member(tree, "received_at", _DEC_TIME))


# --- §4 problem documents ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HunanProblem:
    """A §4 problem document as the platform sent it.

    ``code`` is ``None`` only for a platform fault (5xx) that names no rejection code: such a call is retried with
    the same ``version``/``sequence`` (§4), whereas a coded answer is the platform refusing the message.
    """

    status: int
    code: C | None
    field: str | None = None
    case_no: str | None = None

    @property
    def platform_fault(self) -> bool:
        return self.status >= 500

    def rejection(self) -> Refusal | None:
        """The refusal as the gateway's ``Refusal`` (the platform's free text is not carried over)."""
        if self.code is None:
            return None
        return Refusal(self.code, self.field, f"refused by the hunan platform (HTTP {self.status})", side=Side.PEER)


def render_problem(rejection: Refusal, case_no: str | None = None) -> bytes:
    """The §4 document: ``type``, ``title``, ``status``, ``code``, ``field``, ``case_no`` (and RFC 9457 ``detail``).

    The HTTP status follows §4 (400 MALFORMED/ENCODING_MISMATCH, 401 authentication, signature and replay, 413 body
    size, 422 field-level codes), which is ``Refusal.http_status``. Details never carry refused values.
    """
    code = rejection.code
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.value,
        "title": PROBLEM_TITLES[code],
        "status": rejection.http_status,
        "code": code.value,
    }
    if rejection.where:
        doc["field"] = rejection.where
    if case_no is not None:
        doc["case_no"] = case_no
    if rejection.detail:
        doc["detail"] = rejection.detail
    return dump_json(doc)


def _optional_text(tree: dict[str, Any], key: str) -> str | None:
    value = tree.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str or fmt.bad_text(value):
        raise Refusal(C.MALFORMED, key, "problem member is not a string")
    return value


def parse_problem(body: bytes) -> HunanProblem:
    """A §4 problem document; one that is not the documented shape is ``MALFORMED`` at the member."""
    tree = parse_json(body)
    status = tree.get("status")
    if type(status) is not int or not 400 <= status <= 599:
        raise Refusal(C.MALFORMED, "status", "a problem document carries an HTTP error status")
    raw_code = tree.get("code")
    code: C | None = None
    if raw_code is not None:
        if type(raw_code) is not str:
            raise Refusal(C.MALFORMED, "code", "a rejection code is a string")
        code = peer_code(raw_code)[0]  # a code README §10 does not list maps to the documented fallback
    elif status < 500:
        raise Refusal(C.MALFORMED, "code", "a refusal names its rejection code")
    return HunanProblem(status, code, _optional_text(tree, "field"), _optional_text(tree, "case_no"))
