"""The zlb dialect (zlb.md): the Ningbo site of 浙里办, reached through the Zhejiang IRS data-sharing gateway.

Requests are ``{"head":{"appKey","requestTime","requestId","bizType"},"body":{...}}`` (§4): the ``bizType`` names
the record type and ``body`` holds the record (field tables: ``mappings/zlb/*.toml``, ``root = "body"``). The
licence travels the other way, as the ``datas`` of a response envelope ``{"code","msg","datas","dataCount",
"requestId"}`` (§4, §6.4). Times are epoch milliseconds and dates Beijing midnights (§6): the mapping files say so,
the engine does it.

What the wire-scheme layer (which holds the transport) gets from here:

- ``ZlbAdapter.decode_request``: ``decode`` plus the one envelope check that needs the query string, at its turn
  in README §10 step 6 (``head.requestTime`` against the ``requestTime`` query parameter, §4);
- ``check_request_time``: that check alone; ``request_time``: the value to write in both places;
- ``parse_response`` / ``dump_response``: the response envelopes of §4 (``ZlbResponse``).

Signatures (``X-Sm2-*``) and the IRS ``sign`` are not this layer's business (README §10 step 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.errors import Refusal, Side, peer_code
from gateway.errors import RejectionCode as C
from gateway.model.timefmt import to_epoch_ms

from ..base import DialectAdapter, Envelope
from ..jsonwire import dump_json, parse_json

__all__ = [
    "BIZ_TYPES",
    "ZlbAdapter",
    "ZlbResponse",
    "check_request_time",
    "dump_response",
    "parse_response",
    "request_time",
    "split_request",
]

#: record type → ``head.bizType`` of its request (§1)
BIZ_TYPES: dict[str, str] = {
    "case": "CASE_SUBMIT",
    "status": "CASE_STATUS",
    "evaluation": "EVALUATION_PUSH",
    "licence_query": "LICENCE_QUERY",
}

SUCCESS = "00"
REFUSED = "10"
FAULT = "99"
#: §4 response codes → the rejection they stand for (``10`` carries its own in ``datas.errorCode``)
RESULT_CODES: dict[str, C | None] = {
    SUCCESS: None,
    REFUSED: None,
    "14": C.AUTH_FAILED,  # sign wrong
    "15": C.AUTH_FAILED,  # requestSecret expired: refresh and retry
    "16": C.SIGNATURE_INVALID,
    "17": C.BODY_TOO_LARGE,
    FAULT: None,  # platform fault, retry later
}
_SUCCESS_MSG = "成功"


def _malformed(where: str, detail: str) -> Refusal:
    return Refusal(C.MALFORMED, where, detail)


# --- requests ---------------------------------------------------------------------------------------------------
def split_request(tree: Mapping[str, Any], record_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(head, body)`` of a request, or ``MALFORMED`` (README §10 step 6: envelope, bizType, container).

    A missing or non-object ``head`` or ``body`` and a ``bizType`` other than the record type's (§1) are not the
    documented envelope.
    """
    head = tree.get("head")
    if type(head) is not dict:
        raise _malformed("head", "the request has no head object")
    if head.get("bizType") != BIZ_TYPES[record_type]:
        raise _malformed("head.bizType", f"bizType is not {BIZ_TYPES[record_type]}")
    body = tree.get("body")
    if type(body) is not dict:
        raise _malformed("body", "the request has no body object")
    return head, body


def request_time(sent_at: datetime) -> int:
    """The ``requestTime`` of a message sent at ``sent_at``: epoch ms, whole seconds (README §8: ms part 000).

    The wire layer writes this same value in the query parameter, so ``check_request_time`` holds on our own
    messages.
    """
    return to_epoch_ms(sent_at) // 1000 * 1000


def check_request_time(head: Mapping[str, Any], query_request_time: str) -> None:
    """§4: ``head.requestTime`` must equal the ``requestTime`` query parameter, else ``RULE_VIOLATION``.

    Compared as written (the decimal digits of the JSON number against the query string), so ``01748…`` or
    ``1748….0`` in the query is a mismatch rather than a guess.
    """
    value = head.get("requestTime")
    if type(value) is not int or str(value) != query_request_time:
        raise Refusal(C.RULE_VIOLATION, "head.requestTime", "head.requestTime differs from the query parameter")


# --- responses ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ZlbResponse:
    """A §4 response envelope. ``datas`` may hold personal data (a licence), so ``repr`` leaves it out."""

    code: str
    msg: str
    datas: dict[str, Any] | None
    data_count: int | None
    request_id: str | None

    def __repr__(self) -> str:
        return f"ZlbResponse(code={self.code!r}, data_count={self.data_count!r}, request_id={self.request_id!r})"

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    @property
    def retry_later(self) -> bool:
        """Code ``99``: the platform's fault; the message may be sent again later."""
        return self.code == FAULT

    def rejection(self) -> Refusal | None:
        """The refusal this response carries (codes 10, 14-17), or ``None`` for success and ``99``."""
        if self.code == REFUSED and self.datas is not None:
            field = self.datas.get("field")
            parsed, unknown = peer_code(self.datas.get("errorCode"))  # an unknown code maps to the fallback
            return Refusal(parsed, field if type(field) is str else None, unknown or "refused by zlb", side=Side.PEER)
        code = RESULT_CODES[self.code]
        return None if code is None else Refusal(code, None, f"zlb answered code {self.code}", side=Side.PEER)


def _response(tree: Mapping[str, Any]) -> ZlbResponse:
    code = tree.get("code")
    if type(code) is not str or code not in RESULT_CODES:
        raise _malformed("code", "the response code is not one of §4")
    msg = tree.get("msg", "")
    datas = tree.get("datas")
    count = tree.get("dataCount")
    request_id = tree.get("requestId")
    if type(msg) is not str:
        raise _malformed("msg", "msg is not a string")
    if datas is not None and type(datas) is not dict:
        raise _malformed("datas", "datas is not an object")
    if count is not None and type(count) is not int:
        raise _malformed("dataCount", "dataCount is not an integer")
    if request_id is not None and type(request_id) is not str:
        raise _malformed("requestId", "requestId is not a string")
    if code == REFUSED:
        error = datas.get("errorCode") if datas is not None else None
        if error not in C.__members__:
            raise _malformed("datas.errorCode", "a refusal names no known rejection code")
    return ZlbResponse(code, msg, datas, count, request_id)


def parse_response(body: bytes) -> ZlbResponse:
    """A §4 response envelope from its bytes; ``MALFORMED`` (or ``ENCODING_MISMATCH``) if it is not one."""
    return _response(parse_json(body))


def dump_response(
    code: str, datas: dict[str, Any] | None, request_id: str, msg: str = _SUCCESS_MSG, data_count: int | None = None
) -> bytes:
    """A §4 response envelope; ``dataCount`` is 1 for a success with ``datas``, else 0 unless given."""
    if data_count is None:
        data_count = 1 if code == SUCCESS and datas is not None else 0
    out: dict[str, Any] = {"code": code, "msg": msg}
    if datas is not None:
        out["datas"] = datas
    out["dataCount"] = data_count
    out["requestId"] = request_id
    return dump_json(out)


# --- the adapter ---------------------------------------------------------------------------------------------------
class ZlbAdapter(DialectAdapter):
    """The zlb codec: §4 envelopes around the field tables of §6."""

    name = "zlb"
    content_type = "application/json;charset=UTF-8"  # §1

    def parse(self, record_type: str, body: bytes) -> Any:
        tree = parse_json(body)
        if record_type == "licence":
            return _licence_datas(_response(tree))
        return split_request(tree, record_type)[1]

    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        if record_type == "licence":
            return dump_response(SUCCESS, tree, envelope.request_id)
        head = {
            "appKey": envelope.sender,
            "requestTime": request_time(envelope.sent_at),
            "requestId": envelope.request_id,
            "bizType": BIZ_TYPES[record_type],
        }
        return dump_json({"head": head, "body": tree})

    def decode_request(self, record_type: str, body: bytes, query_request_time: str) -> Any:
        """``decode`` of a request that came with its query string: §4's requestTime check at step 6."""
        self.check_size(body)
        mapping = self.mapping(record_type)
        if record_type == "licence":
            raise Refusal(C.UNSUPPORTED_TYPE, None, "a licence travels in a response, not a request")
        head, record = split_request(parse_json(body), record_type)
        check_request_time(head, query_request_time)
        return self.decode_record(mapping, record)


def _licence_datas(response: ZlbResponse) -> dict[str, Any]:
    """The licence object of a query response (§6.4); a refusal or an empty answer is not a licence."""
    if not response.ok:
        raise _malformed("code", "the response is not a success and carries no licence")
    if response.datas is None:
        raise _malformed("datas", "the response has no datas object")
    return response.datas
