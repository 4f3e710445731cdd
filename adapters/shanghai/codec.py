"""The shanghai dialect (shanghai.md): SOAP 1.1 ExchangeService 2.0 of Songjiang's "一网通办".

Bytes in, record tree out, and back; field tables in ``mappings/shanghai/*.toml``. The envelope is
``soap:Envelope/soap:Body/<operation>``, the operation in ``urn:sh:ywtb:exchange:2.0`` (any prefix, README §8):
``submitCase/Case``, ``reportStatus/StatusEvent``, ``queryLicenceResponse/Licence``, and ``queryLicence`` (the
licence query request, whose operation element is itself the record).

The wire-scheme layer (``AuthHeader`` with HMAC-SM3, §2) is not here, but it needs this module's reading of the
envelope: ``read_envelope`` / ``operation_element`` give the element the signature covers exactly as it appears,
``auth_header`` its attributes; ``SoapFault`` with ``render_fault``/``read_reply`` are the faults of §3, and
``render_submit_case_response``/``render_report_status_response`` the success answers of §1. Nothing here reads
the clock, generates ids or signs: ``render`` writes no ``soap:Header``, the wire layer inserts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from gateway.errors import GatewayError, Refusal
from gateway.errors import RejectionCode as C
from mappings.engine import RecordMapping

from ..base import DialectAdapter, Envelope
from ..xmlwire import (
    build_element,
    check_xml_declaration,
    element_tree,
    escape_attribute,
    escape_text,
    parse_xml,
    plain_values,
    refuse_dtd,
)

__all__ = [
    "EX_NS",
    "OPERATIONS",
    "SOAP_ACTIONS",
    "SOAP_NS",
    "ShanghaiAdapter",
    "SoapFault",
    "SoapMessage",
    "SoapReply",
    "auth_header",
    "operation_element",
    "read_envelope",
    "read_reply",
    "render_fault",
    "render_report_status_response",
    "render_submit_case_response",
]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"  # §1: SOAP 1.1
EX_NS = "urn:sh:ywtb:exchange:2.0"  # §1: the body namespace, prefix free
_NSMAP = {"soap": SOAP_NS, "ex": EX_NS}  # §7: the samples declare both prefixes on the Envelope
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_BOM = b"\xef\xbb\xbf"

#: record type → (operation element, record element or None when the operation is the record) (§1 table)
OPERATIONS: dict[str, tuple[str, str | None]] = {
    "case": ("submitCase", "Case"),
    "status": ("reportStatus", "StatusEvent"),
    "licence": ("queryLicenceResponse", "Licence"),
    "licence_query": ("queryLicence", None),
}
#: record type → the quoted SOAPAction header of its request (§1); the licence travels in a response
SOAP_ACTIONS: dict[str, str] = {
    "case": f'"{EX_NS}#submitCase"',
    "status": f'"{EX_NS}#reportStatus"',
    "licence_query": f'"{EX_NS}#queryLicence"',
}
_AUTH_ATTRIBUTES = ("appId", "timestamp", "nonce", "sign")  # §2


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


_ENVELOPE, _HEADER, _BODY, _FAULT = (_q(SOAP_NS, n) for n in ("Envelope", "Header", "Body", "Fault"))


# --- reading the envelope (README §10 steps 3-6) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SoapMessage:
    """A parsed SOAP message: the ``soap:Envelope`` element and the single child of its ``soap:Body``."""

    envelope: Any
    operation: Any

    @property
    def operation_name(self) -> str:
        """The operation's local name when it is in the body namespace (or ``soap:Fault``), else ``""``."""
        tag = self.operation.tag
        if tag == _FAULT:
            return "Fault"
        ns, _, local = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
        return local if ns == EX_NS else ""


def read_envelope(body: bytes) -> SoapMessage:
    """Encoding (§1), DTD, well-formedness and the SOAP envelope of a message, as README §10 steps 3-6 order them."""
    if body[:3] == _BOM:  # §1: a UTF-8 byte order mark before the message is allowed
        body = body[3:]
    # §1: the declaration is optional; not an XML 1.0 declaration → MALFORMED; another encoding → ENCODING_MISMATCH
    check_xml_declaration(body, encodings=("UTF-8", "UTF8"), required=False, bad_declaration=C.MALFORMED)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(C.ENCODING_MISMATCH, None, "body is not valid UTF-8") from None
    refuse_dtd(text)
    root = parse_xml(text)
    return SoapMessage(root, operation_element(root))


def _one(element: Any, tag: str, where: str, *, optional: bool = False) -> Any:
    found = [child for child in element if child.tag == tag]
    if len(found) > 1 or (not found and not optional):
        raise Refusal(C.MALFORMED, where, "the element occurs twice" if found else "the element is missing")
    return found[0] if found else None


def operation_element(envelope: Any) -> Any:
    """The single element child of ``soap:Body``: what ``AuthHeader/@sign`` covers (§2), exactly as parsed."""
    if envelope.tag != _ENVELOPE:
        raise Refusal(C.MALFORMED, "Envelope", "the root element is not a SOAP 1.1 soap:Envelope")
    _one(envelope, _HEADER, "Envelope/Header", optional=True)
    body = _one(envelope, _BODY, "Envelope/Body")
    elements = [child for child in body if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise Refusal(C.MALFORMED, "Envelope/Body", "soap:Body must hold exactly one operation element")
    return elements[0]


def auth_header(envelope: Any) -> dict[str, str] | None:
    """The attributes of ``soap:Header/ex:AuthHeader`` that §2 defines (those present), or None without one."""
    header = _one(envelope, _HEADER, "Envelope/Header", optional=True)
    if header is None:
        return None
    auth = _one(header, _q(EX_NS, "AuthHeader"), "Header/AuthHeader", optional=True)
    if auth is None:
        return None
    return {name: auth.get(name) for name in _AUTH_ATTRIBUTES if auth.get(name) is not None}


# --- the adapter -------------------------------------------------------------------------------------------------
class ShanghaiAdapter(DialectAdapter):
    """submitCase, reportStatus, queryLicence and its response (§1); no item batches, no evaluations."""

    name = "shanghai"
    content_type = "text/xml; charset=UTF-8"  # §1

    def parse(self, record_type: str, body: bytes) -> Any:
        message = read_envelope(body)
        op_name, record_name = OPERATIONS[record_type]
        if message.operation_name != op_name:
            raise Refusal(C.MALFORMED, "Envelope/Body", f"the SOAP operation is not {op_name}")
        record = message.operation
        if record_name is not None:
            record = _one(record, _q(EX_NS, record_name), f"{op_name}/{record_name}")
        shape = self.schemas[record_type]
        try:
            return element_tree(record, shape, EX_NS)
        except Refusal as exc:  # element_tree's only refusal: a once-only element twice (README §8); name it
            raise exc.at(_duplicate_where(record, shape, self.mappings[record_type])) from None

    def render(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        """The record in ``soap:Envelope/soap:Body/<operation>``; ``envelope`` values travel in the AuthHeader,
        which the wire layer adds (§2), so none of them is written here.

        Written as text straight from the tree (``_write_record``): the document ``render_tree`` builds with lxml,
        indented and serialised, byte for byte (the tests compare both), at a third of the cost. A tree the text
        writer leaves alone (an element with both text and child elements) goes through ``render_tree``.
        """
        try:
            written = _write_document(record_type, tree, escaped=False)
        except _NeedsEscaping:  # a value to escape (or to refuse): written again, escaping each
            written = _write_document(record_type, tree, escaped=True)
        if written is None:
            return self.render_tree(record_type, tree, envelope)
        return written

    def render_tree(self, record_type: str, tree: Any, envelope: Envelope) -> bytes:
        """``render`` through lxml: the elements built, ``etree.indent`` and ``etree.tostring`` (the reference the
        text writer is compared with, and its fallback)."""
        op_name, record_name = OPERATIONS[record_type]
        root, body = _skeleton()
        operation = etree.SubElement(body, _q(EX_NS, op_name))
        record = operation if record_name is None else etree.SubElement(operation, _q(EX_NS, record_name))
        try:
            build_element(record, tree, EX_NS)
        except ValueError as exc:  # lxml refuses characters XML 1.0 does not allow (README §8: BAD_FORMAT)
            raise Refusal(C.BAD_FORMAT, None, "a value holds a character XML 1.0 does not allow") from exc
        return _finish(root)


_OPENING = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:ex="{EX_NS}">\n  <soap:Body>\n    '
)
_CLOSING = "\n  </soap:Body>\n</soap:Envelope>\n"
_INDENTS = ["\n" + "  " * depth for depth in range(8)]


class _NeedsEscaping(GatewayError):
    """A value of the document holds a character to escape, or one XML 1.0 does not allow."""


def _write_document(record_type: str, tree: Any, *, escaped: bool) -> bytes | None:
    """The document's bytes, or None when the text writer leaves the tree to lxml (``_write_element``).

    Unescaped, every value is written as it is and checked once at the end, all together (one search instead of one
    per value: most documents have nothing to escape); ``_NeedsEscaping`` if any needs it, and the caller writes the
    document again with ``escaped``.
    """
    op_name, record_name = OPERATIONS[record_type]
    out = [_OPENING]
    values: list[Any] = []
    if record_name is None:
        written = _write_element(out, values, op_name, tree, 2, escaped)
    else:
        out.append(f"<ex:{op_name}>\n      ")
        written = _write_element(out, values, record_name, tree, 3, escaped)
        out.append(f"\n    </ex:{op_name}>")
    if not written:
        return None
    if not escaped and not plain_values(values):
        raise _NeedsEscaping
    out.append(_CLOSING)
    return "".join(out).encode("utf-8")


def _write_element(out: list[str], values: list[Any], name: str, node: Any, depth: int, escaped: bool) -> bool:
    """Append ``<ex:name ...>`` for ``node`` at indentation ``depth`` as lxml writes it after ``etree.indent``:
    attributes in the tree's order, then text or each child element on its own line; an element with neither is
    self-closed, an empty text is ``<x></x>``. With ``escaped``, escaping and the refusal of characters XML 1.0 does
    not allow are ``xmlwire``'s, which follow libxml2; without, each value is written as it is and kept in ``values``
    for the caller's check. False (and nothing to use) for mixed content, which ``render_tree`` writes.
    """
    if type(node) is not dict:
        if node is None:
            out.append(f"<ex:{name}/>")
            return True
        values.append(node)
        out.append(f"<ex:{name}>{escape_text(node) if escaped else node}</ex:{name}>")
        return True
    out.append(f"<ex:{name}")
    text = None
    children: list[tuple[str, Any]] = []
    for key, value in node.items():
        if key[0] == "@":
            values.append(value)
            out.append(f' {key[1:]}="{escape_attribute(value) if escaped else value}"')
        elif key == "#text":
            text = value
        else:
            children.append((key, value))
    if not children:
        if text is None:
            out.append("/>")
        else:
            values.append(text)
            out.append(f">{escape_text(text) if escaped else text}</ex:{name}>")
        return True
    if text is not None or depth + 1 >= len(_INDENTS):  # mixed content, or deeper than any document goes
        return False
    out.append(">")
    inner = _INDENTS[depth + 1]
    for key, value in children:
        for entry in value if type(value) is list else (value,):
            out.append(inner)
            if not _write_element(out, values, key, entry, depth + 1, escaped):
                return False
    out.append(f"{_INDENTS[depth]}</ex:{name}>")
    return True


def _duplicate_where(record: Any, shape: dict[str, Any], mapping: RecordMapping) -> str:
    """The path of the first once-only child element that occurs twice (``Case/Applicant``)."""
    seen: set[str] = set()
    for child in record:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(f"{{{EX_NS}}}"):
            local = tag[len(EX_NS) + 2 :]
            if local in shape and not isinstance(shape[local], list):
                if local in seen:
                    return f"{mapping.root}/{local}"
                seen.add(local)
    return mapping.root


def _skeleton() -> tuple[Any, Any]:
    root = etree.Element(_ENVELOPE, nsmap=_NSMAP)
    return root, etree.SubElement(root, _BODY)


def _finish(root: Any) -> bytes:
    etree.indent(root, space="  ")  # the layout of the samples (§7); the signature covers it as sent (§2)
    text: bytes = etree.tostring(root, encoding="UTF-8")
    return _DECLARATION + text + b"\n"


# --- faults and success answers (§1, §3) ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SoapFault:
    """A SOAP 1.1 fault of §3. ``server`` faults are the platform's (retry with the same key), client faults are
    refusals carrying a README §10 ``code`` and the refused ``field``."""

    faultstring: str
    code: str | None = None
    field: str | None = None
    server: bool = False

    @classmethod
    def from_rejection(cls, rejection: Refusal) -> SoapFault:
        """A client fault for a refusal; the rejection's detail never holds the refused value (gateway.errors)."""
        return cls(rejection.detail or rejection.code.value, rejection.code.value, rejection.where)


@dataclass(frozen=True, slots=True)
class SoapReply:
    """An answer read by ``read_reply``: a fault, or the success element (``receipt_no`` for submitCase)."""

    message: SoapMessage
    fault: SoapFault | None = None
    receipt_no: str | None = None


def render_fault(fault: SoapFault) -> bytes:
    """``soap:Fault`` with faultcode, faultstring and ``detail/ex:Error`` (§3); sent with HTTP status 500."""
    root, body = _skeleton()
    element = etree.SubElement(body, _FAULT)
    etree.SubElement(element, "faultcode").text = "soap:Server" if fault.server else "soap:Client"
    etree.SubElement(element, "faultstring").text = fault.faultstring
    if fault.code is not None:
        error = etree.SubElement(etree.SubElement(element, "detail"), _q(EX_NS, "Error"), code=fault.code)
        if fault.field is not None:
            error.set("field", fault.field)
    return _finish(root)


def _response(op_name: str, **attributes: str) -> bytes:
    root, body = _skeleton()
    etree.SubElement(body, _q(EX_NS, op_name), attributes)
    return _finish(root)


def render_submit_case_response(receipt_no: str) -> bytes:
    """``ex:submitCaseResponse/@receiptNo``: the answer to an accepted case (§1)."""
    return _response("submitCaseResponse", receiptNo=receipt_no)


def render_report_status_response() -> bytes:
    """``ex:reportStatusResponse``: the answer to an accepted status event (§1)."""
    return _response("reportStatusResponse")


def _read_fault(element: Any) -> SoapFault:
    faultcode = _one(element, "faultcode", "Fault/faultcode")
    prefix, _, local = (faultcode.text or "").strip().rpartition(":")
    if faultcode.nsmap.get(prefix or None) != SOAP_NS or local.split(".")[0] not in ("Client", "Server"):
        raise Refusal(C.MALFORMED, "Fault/faultcode", "faultcode is not soap:Client or soap:Server")
    faultstring = _one(element, "faultstring", "Fault/faultstring")
    code = field = None
    detail = _one(element, "detail", "Fault/detail", optional=True)
    if detail is not None:
        error = _one(detail, _q(EX_NS, "Error"), "detail/Error", optional=True)
        if error is not None:
            code, field = error.get("code"), error.get("field")
    return SoapFault(faultstring.text or "", code, field, server=local.startswith("Server"))


def read_reply(body: bytes, operation: str) -> SoapReply:
    """Read the answer to ``operation`` (``submitCase``, ``reportStatus``, ``queryLicence``): a fault of §3, or its
    response element. A licence response's record is then decoded with ``ShanghaiAdapter.decode("licence", …)``."""
    message = read_envelope(body)
    if message.operation_name == "Fault":
        return SoapReply(message, fault=_read_fault(message.operation))
    if message.operation_name != f"{operation}Response":
        raise Refusal(C.MALFORMED, "Envelope/Body", f"the answer is not {operation}Response")
    receipt = message.operation.get("receiptNo") if operation == "submitCase" else None
    if operation == "submitCase" and not receipt:
        raise Refusal(C.MISSING_FIELD, "submitCaseResponse/@receiptNo", "the receipt number is absent")
    return SoapReply(message, receipt_no=receipt)
