"""The g60 dialect (g60.md): the G60 corridor 专窗 hub and the 长三角政务服务地图 (``yrd-map``) item batches.

Every message is GB18030 XML (§2) in the envelope ``G60Message`` (§3: ``Header`` then ``Body`` holding exactly one
record element), in the namespace ``urn:yrd:g60:ywtb:1.0``. Field tables: ``mappings/g60/*.toml``.

Reading follows README §10 for a message without its transport: the declaration and the bytes (step 3,
``ENCODING_MISMATCH``), DOCTYPE/ENTITY (step 4), well-formedness (step 5), the envelope (step 6, ``MALFORMED``), then
the ``ItemBatch`` counts (step 7). The XMLDSig signature, ``SentAt`` window and ``MessageId`` repeats are the
wire-scheme layer's: ``parse_envelope`` hands it the header values and the parsed root for that.

Besides records, g60 answers with ``Receipt`` (§7) and ``ItemBatchResult`` (§9) messages; their render and parse
functions live here so the wire layer never builds g60 XML itself. Nothing here reads the clock or makes ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import hexdigits
from typing import Any

from lxml import etree

from gateway.errors import Refusal, peer_code
from gateway.errors import RejectionCode as C
from mappings.formats import DATETIME_WIRES

from ..base import DialectAdapter, Envelope
from ..xmlwire import (
    build_element,
    check_xml_declaration,
    element_tree,
    escape_attribute,
    escape_text,
    parse_xml,
    refuse_dtd,
    serialise,
    write_elements,
)

__all__ = [
    "BATCH_LIMIT",
    "NS",
    "G60Adapter",
    "ItemBatchResult",
    "ItemResult",
    "Receipt",
    "batch_no",
    "item_batch_result_of",
    "parse_envelope",
    "parse_item_batch_result",
    "parse_receipt",
    "receipt_of",
    "render_item_batch_result",
    "render_receipt",
]

NS = "urn:yrd:g60:ywtb:1.0"  # §3
BATCH_LIMIT = 500  # §5, §6.4: Item per ItemBatch
DECLARATION = b'<?xml version="1.0" encoding="GB18030"?>\n'  # §2: senders write exactly this first
HEADER_FIELDS = ("MessageId", "MessageType", "SenderCode", "ReceiverCode", "SentAt")  # §3, in order
#: record type → (Header/MessageType, the record element in Body); §3, §6
RECORDS: dict[str, tuple[str, str]] = {
    "case": ("CaseSubmit", "Case"),
    "status": ("CaseStatus", "StatusEvent"),
    "licence": ("LicenceData", "Licence"),
    "item": ("ItemBatch", "ItemBatch"),
    "licence_query": ("LicenceQuery", "LicenceQuery"),
}
#: §3: Body holds exactly one of these
BODY_ELEMENTS = frozenset(
    f"{{{NS}}}{name}"
    for name in ("Case", "StatusEvent", "LicenceQuery", "Licence", "ItemBatch", "ItemBatchResult", "Receipt")
)
_HEADER_TAGS = {f"{{{NS}}}{name}": name for name in HEADER_FIELDS}
_compact = DATETIME_WIRES["yyyyMMddHHmmss"][1]


def _qname(local: str) -> str:
    return f"{{{NS}}}{local}"


def _children(element: Any, local: str) -> list[Any]:
    """Child elements matched by namespace and local name (§3: the prefix is not significant)."""
    return list(element.iterchildren(_qname(local)))


def _only(element: Any, local: str, where: str) -> Any:
    """The one child ``local`` (absent → ``None``); twice is ``MALFORMED`` (§3)."""
    found = _children(element, local)
    if len(found) > 1:
        raise Refusal(C.MALFORMED, where, f"element {local} occurs more than once")
    return found[0] if found else None


def _leaf_text(element: Any, where: str) -> str | None:
    if element is None:
        return None
    if len(element):
        raise Refusal(C.MALFORMED, where, "an envelope field holds child elements")
    return element.text or None


# --- reading ----------------------------------------------------------------------------------------------------
def _read_document(body: bytes) -> Any:
    """README §10 steps 3-5 for g60: declaration and GB18030 bytes, DTD refusal, well-formedness."""
    # §2: the declaration is mandatory, first (no BOM, no whitespace before it) and names GB18030.
    start, _ = check_xml_declaration(body, encodings=("GB18030",), required=True, bad_declaration=C.ENCODING_MISMATCH)
    try:
        # §2: Python's codec implements the GB 18030-2005 mapping (FE 51 → U+E816, U+20087 → 95 32 90 31).
        text = body[start:].decode("gb18030")
    except UnicodeDecodeError:
        raise Refusal(C.ENCODING_MISMATCH, None, "body is not valid GB18030") from None
    refuse_dtd(text)
    return parse_xml(text)


def parse_envelope(body: bytes) -> tuple[dict[str, str], Any]:
    """The ``Header`` values (field name → text, absent ones left out) and the parsed ``G60Message`` root.

    For the wire-scheme layer: it verifies ``ds:Signature`` on the root, checks ``SenderCode`` against the client
    certificate and ``SentAt`` against its clock, and keys idempotency on ``MessageId`` (§4, §7).
    """
    root = _read_document(body)
    if root.tag != _qname("G60Message"):
        raise Refusal(C.MALFORMED, "G60Message", "the root element is not G60Message in urn:yrd:g60:ywtb:1.0")
    header = _only(root, "Header", "Header")
    if header is None or _only(root, "Body", "Body") is None:
        raise Refusal(C.MALFORMED, "G60Message", "G60Message needs a Header and a Body")
    values: dict[str, str] = {}
    seen: set[str] = set()
    for child in header:  # one pass: this runs on every message
        name = _HEADER_TAGS.get(child.tag)
        if name is None:
            continue  # §3: elements that are not listed are ignored
        where = f"Header/{name}"
        if name in seen:
            raise Refusal(C.MALFORMED, where, f"element {name} occurs more than once")
        seen.add(name)
        text = _leaf_text(child, where)
        if text is not None:
            values[name] = text
    return values, root


def _body_element(header: dict[str, str], root: Any, message_type: str, local: str) -> Any:
    """README §10 step 6: the MessageType and the one record element in Body."""
    if header.get("MessageType") != message_type:
        raise Refusal(C.MALFORMED, "Header/MessageType", f"MessageType must be {message_type}")
    body = _only(root, "Body", "Body")
    documented = [child for child in body if child.tag in BODY_ELEMENTS]
    if len(documented) != 1 or documented[0].tag != _qname(local):
        raise Refusal(C.MALFORMED, "Body", f"Body must hold exactly one {local}")
    return documented[0]


def _batch_items(batch: Any) -> list[Any]:
    """§6.4, README §10 step 7: 1-500 Item and ``@Count`` equal to their number, before any item field."""
    items = _children(batch, "Item")
    if len(items) > BATCH_LIMIT:
        raise Refusal(C.BATCH_TOO_LARGE, "ItemBatch", f"more than {BATCH_LIMIT} Item in one ItemBatch")
    if not items:
        raise Refusal(C.MISSING_FIELD, "ItemBatch/Item", "an ItemBatch holds at least one Item")
    count = batch.get("Count")
    if count is None:
        raise Refusal(C.MISSING_FIELD, "ItemBatch/@Count", "ItemBatch needs its Count")
    if count != str(len(items)):
        raise Refusal(C.RULE_VIOLATION, "ItemBatch/@Count", "Count differs from the number of Item elements")
    return items


class G60Adapter(DialectAdapter):
    """g60.md: GB18030 XML in the ``G60Message`` envelope; see the module docstring."""

    name = "g60"
    content_type = "application/xml; charset=GB18030"  # §1
    batch_where = "ItemBatch"


    def parse(self, record_type: str, body: bytes) -> Any:
        header, root = parse_envelope(body)
        return self.record_tree(record_type, header, root)

    def record_tree(self, record_type: str, header: dict[str, str], root: Any) -> Any:
        """The record's tree from an already parsed envelope (``parse_envelope``), README §10 steps 6-7."""
        self.mapping(record_type)  # UNSUPPORTED_TYPE first (README §10 step 2)
        message_type, local = RECORDS[record_type]
        element = _body_element(header, root, message_type, local)
        shape = self.schemas[record_type]
        if record_type != "item":
            return _tree(element, shape, local)
        items = _batch_items(element)
        return [_tree(item, shape, f"ItemBatch/Item[{i}]") for i, item in enumerate(items, 1)]

    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        message_type, local = RECORDS[record_type]
        if record_type == "item" and not 0 < len(tree) <= BATCH_LIMIT:  # §6.4: 1-500 Item, README §10 step 10
            code = C.MISSING_FIELD if not tree else C.BATCH_TOO_LARGE
            raise Refusal(code, "ItemBatch", f"an ItemBatch holds 1 to {BATCH_LIMIT} Item")
        if envelope.sent_at.tzinfo is None:
            raise ValueError("Envelope.sent_at must be an aware datetime (SentAt is written in Beijing time)")
        # Written as text straight from the tree (the same document build_element makes, several times faster: a
        # 500-item ItemBatch is the sync's unit); §3: the default namespace, no prefix, elements in table order.
        values = (envelope.message_id, message_type, envelope.sender, envelope.receiver, _compact(envelope.sent_at))
        parts = [f'<G60Message xmlns="{NS}"><Header>']
        parts.extend(f"<{name}>{escape_text(value)}</{name}>" for name, value in zip(HEADER_FIELDS, values,
                                                                                     strict=True))
        parts.append("</Header><Body>")
        if record_type == "item":
            parts.append(f'<ItemBatch BatchNo="{escape_attribute(batch_no(envelope.message_id))}" '
                         f'Count="{len(tree)}">')
            write_elements(parts, {"Item": tree})
            parts.append("</ItemBatch>")
        else:
            write_elements(parts, {local: tree})
        parts.append("</Body></G60Message>")
        return DECLARATION + "".join(parts).encode("gb18030")


def _tree(element: Any, shape: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        return element_tree(element, shape, NS)
    except Refusal as exc:  # a repeated element inside the record: name the record that holds it
        raise exc.at(where) from None


# --- writing ----------------------------------------------------------------------------------------------------
def batch_no(message_id: str) -> str:
    """``ItemBatch/@BatchNo`` from the message id: ``B`` + its first 8 hex digits, upper-cased (as the samples)."""
    return "B" + "".join(c for c in message_id if c in hexdigits)[:8].upper()


def _message(message_type: str, envelope: Envelope) -> tuple[Any, Any]:
    """A ``G60Message`` with its Header filled from ``envelope``, and its empty Body."""
    if envelope.sent_at.tzinfo is None:
        raise ValueError("Envelope.sent_at must be an aware datetime (SentAt is written in Beijing time)")
    root = etree.Element(_qname("G60Message"), nsmap={None: NS})  # §3: default namespace, no prefix
    header = etree.SubElement(root, _qname("Header"))
    values = (envelope.message_id, message_type, envelope.sender, envelope.receiver, _compact(envelope.sent_at))
    for name, value in zip(HEADER_FIELDS, values, strict=True):
        etree.SubElement(header, _qname(name)).text = value
    return root, etree.SubElement(root, _qname("Body"))


def _bytes(root: Any) -> bytes:
    return DECLARATION + serialise(root).encode("gb18030")


# --- Receipt (§7) and ItemBatchResult (§9) ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Receipt:
    """§7: the synchronous answer to every message. ``message`` is free text; it never carries field values."""

    ref_message_id: str
    accepted: bool
    error_code: C | None = None
    error_path: str | None = None
    message: str | None = None

    @classmethod
    def accept(cls, ref_message_id: str) -> Receipt:
        return cls(ref_message_id, True)

    @classmethod
    def reject(cls, ref_message_id: str, rejection: Refusal) -> Receipt:
        """The receipt refusing a message; a rejection's detail never holds the refused value (gateway.errors)."""
        return cls(ref_message_id, False, rejection.code, rejection.where, rejection.detail or None)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """§9: one item's outcome in an ``ItemBatchResult``, in input order."""

    catalog_code: str
    region: str
    ok: bool
    error_code: C | None = None
    error_path: str | None = None


@dataclass(frozen=True, slots=True)
class ItemBatchResult:
    """§9: the 长三角政务服务地图's answer to an ``ItemBatch``."""

    batch_no: str
    results: tuple[ItemResult, ...]

    @property
    def accepted(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def rejected(self) -> int:
        return len(self.results) - self.accepted


def render_receipt(receipt: Receipt, envelope: Envelope) -> bytes:
    """A ``Receipt`` message (§7) with ``envelope``'s header values."""
    root, body = _message("Receipt", envelope)
    element = etree.SubElement(body, _qname("Receipt"), RefMessageId=receipt.ref_message_id)
    fields = {
        "Result": "ACCEPTED" if receipt.accepted else "REJECTED",
        "ErrorCode": None if receipt.error_code is None else receipt.error_code.value,
        "ErrorPath": receipt.error_path,
        "Message": receipt.message,
    }
    build_element(element, {k: v for k, v in fields.items() if v}, NS)  # §3: empty elements are not sent
    return _bytes(root)


def render_item_batch_result(result: ItemBatchResult, envelope: Envelope) -> bytes:
    """An ``ItemBatchResult`` message (§9) with ``envelope``'s header values."""
    root, body = _message("ItemBatchResult", envelope)
    element = etree.SubElement(
        body, _qname("ItemBatchResult"),
        BatchNo=result.batch_no, Accepted=str(result.accepted), Rejected=str(result.rejected),
    )
    for r in result.results:
        attrs = {"CatalogCode": r.catalog_code, "Region": r.region, "Status": "OK" if r.ok else "REJECTED"}
        if r.error_code is not None:
            attrs["ErrorCode"] = r.error_code.value
        if r.error_path:
            attrs["ErrorPath"] = r.error_path
        etree.SubElement(element, _qname("Result"), attrs)
    return _bytes(root)


def _code(value: str | None, where: str) -> C | None:
    if value is None:
        return None
    return peer_code(value)[0]  # a code README §10 does not list maps to the documented fallback


def _choice(value: str | None, yes: str, no: str, where: str) -> bool:
    if value not in (yes, no):
        raise Refusal(C.MISSING_FIELD if value is None else C.UNKNOWN_CODE, where, f"must be {yes} or {no}")
    return value == yes


def parse_receipt(body: bytes) -> Receipt:
    """A ``Receipt`` message (§7); the same encoding, DTD and envelope checks as records."""
    return receipt_of(*parse_envelope(body))


def receipt_of(header: dict[str, str], root: Any) -> Receipt:
    """The ``Receipt`` of an envelope ``parse_envelope`` already read (a client reads the answer once)."""
    element = _body_element(header, root, "Receipt", "Receipt")
    values = {n: _leaf_text(_only(element, n, f"Receipt/{n}"), f"Receipt/{n}")
              for n in ("Result", "ErrorCode", "ErrorPath", "Message")}
    ref = element.get("RefMessageId")
    if not ref:
        raise Refusal(C.MISSING_FIELD, "Receipt/@RefMessageId", "a receipt names the message it answers")
    accepted = _choice(values["Result"], "ACCEPTED", "REJECTED", "Receipt/Result")
    code = _code(values["ErrorCode"], "Receipt/ErrorCode")
    if not accepted and code is None:
        raise Refusal(C.MISSING_FIELD, "Receipt/ErrorCode", "a rejecting receipt carries its code")
    return Receipt(ref, accepted, code, values["ErrorPath"], values["Message"])


def parse_item_batch_result(body: bytes) -> ItemBatchResult:
    """An ``ItemBatchResult`` message (§9); ``Accepted``/``Rejected`` must agree with the results."""
    return item_batch_result_of(*parse_envelope(body))


def item_batch_result_of(header: dict[str, str], root: Any) -> ItemBatchResult:
    """The ``ItemBatchResult`` of an envelope ``parse_envelope`` already read."""
    element = _body_element(header, root, "ItemBatchResult", "ItemBatchResult")
    results = []
    for i, r in enumerate(_children(element, "Result"), 1):
        where = f"ItemBatchResult/Result[{i}]"
        ok = _choice(r.get("Status"), "OK", "REJECTED", f"{where}/@Status")
        results.append(ItemResult(r.get("CatalogCode") or "", r.get("Region") or "", ok,
                                  _code(r.get("ErrorCode"), f"{where}/@ErrorCode"), r.get("ErrorPath")))
    result = ItemBatchResult(element.get("BatchNo") or "", tuple(results))
    if element.get("Accepted") != str(result.accepted) or element.get("Rejected") != str(result.rejected):
        raise Refusal(C.RULE_VIOLATION, "ItemBatchResult", "Accepted/Rejected differ from the results")
    return result
