"""The shanghai wire scheme (shanghai.md §1-§3) as pure functions: the ``AuthHeader`` with HMAC-SM3, in both roles.

Bytes and values in, bytes and values out: no socket, no clock, no random source. The caller passes ``now`` and the
nonce, so every rule here is testable against the document's worked example. ``adapters.shanghai.roles`` does the I/O.

The scheme, as composed here (§2):

- the signed element is the single child of ``soap:Body`` (the operation, the response element or ``soap:Fault``),
  canonicalised with Exclusive XML C14N 1.0 without comments by lxml, *exactly as parsed from the message*;
- ``sign`` = lower hex HMAC-SM3 (key = UTF-8 of ``appSecret``) over
  ``appId \\n timestamp \\n nonce \\n sm3hex(C14N(element))``;
- ``sign_message`` inserts the header into an unsigned message without touching the body: it parses the message,
  signs the parsed element, then adds ``soap:Header`` before ``soap:Body``; lxml writes the element back so that it
  re-parses to the same tree (attribute whitespace as character references), so the receiver's C14N is the same.

Editing rules: every refusal is a ``Refusal`` with its README §10 code, and its detail never holds a received
value (values may be personal data, README §10 and gateway.errors). A verification order change is a change of the
document's §10 order: keep ``verify_auth`` doing client authentication before the signature, and leave the window
and nonce (``REPLAYED``) to the caller, after both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from adapters.licence_sign import verify_issuer_signature
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature
from gateway.model.records import Licence
from signing.errors import SigningError
from signing.keys import ALG_SM2_SM3, VerificationKey
from signing.secret import Secret
from signing.sm import SM2_DEFAULT_USER_ID, hmac_sm3_hex, sm3_hex, verify_hmac_sm3_hex

from .codec import EX_NS, SOAP_ACTIONS, SOAP_NS, SoapMessage, auth_header, read_envelope

__all__ = [
    "LICENCE_ALGS",
    "NONCE_TTL_S",
    "OPERATION_TYPES",
    "SERVICE_PATH",
    "WINDOW_MS",
    "VerifiedAuth",
    "canonical_operation",
    "check_window",
    "compute_sign",
    "insert_digital_sign",
    "read_digital_sign",
    "record_type_for",
    "sign_message",
    "string_to_sign",
    "verify_auth",
    "verify_licence_signature",
    "wsdl_document",
]

SERVICE_PATH = "/ywtb/exchange/2.0/ExchangeService"  # §1, under the platform's base
WINDOW_MS = 300_000  # §2: more than 300 000 ms from the server clock → REPLAYED
NONCE_TTL_S = 600.0  # §2: a nonce is never reused within 10 minutes
LICENCE_ALGS = (ALG_SM2_SM3,)  # anhui.md §6.6: the issuer signs with SM2-SM3; nothing else is accepted
#: request operation (local name in the body namespace) → record type (§1 table)
OPERATION_TYPES: dict[str, str] = {"submitCase": "case", "reportStatus": "status", "queryLicence": "licence_query"}

_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # epoch ms; 15 digits is year 33658, beyond any window
_NONCE = re.compile(r"[0-9a-f]{32}")  # §2: 32 lower-case hex
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _serialise(envelope: Any) -> bytes:
    """The envelope as the adapter writes messages: the samples' declaration, UTF-8, a final newline."""
    text: bytes = etree.tostring(envelope, encoding="UTF-8")
    return _DECLARATION + text + b"\n"


# --- the string to sign (§2) -----------------------------------------------------------------------------------------
def canonical_operation(element: Any) -> bytes:
    """Exclusive C14N 1.0 without comments of the signed element, as parsed (whitespace inside it counts)."""
    data: bytes = etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
    return data


def string_to_sign(app_id: str, timestamp: str, nonce: str, element: Any) -> bytes:
    """``appId\\ntimestamp\\nnonce\\nsm3hex(C14N(element))`` in UTF-8 (§2 worked example)."""
    return "\n".join((app_id, timestamp, nonce, sm3_hex(canonical_operation(element)))).encode("utf-8")


def compute_sign(secret: Secret, app_id: str, timestamp: str, nonce: str, element: Any) -> str:
    """Lower-case hex HMAC-SM3 of the string to sign, keyed with the UTF-8 bytes of ``appSecret``."""
    return hmac_sm3_hex(secret, string_to_sign(app_id, timestamp, nonce, element))


# --- signing a message
def sign_message(body: bytes, app_id: str, secret: Secret, timestamp_ms: int, nonce: str) -> bytes:
    """``body`` (a SOAP message without ``AuthHeader``) with a signed ``soap:Header/ex:AuthHeader`` (§2).

    The element is signed as parsed from ``body`` and then written back unchanged beside the new header, so the
    signature covers the bytes the receiver will canonicalise. ``ValueError`` for a body that already carries an
    ``AuthHeader`` or a nonce that is not 32 lower-case hex (both are the caller's mistakes, not the peer's).
    """
    if not _NONCE.fullmatch(nonce):
        raise ValueError("the nonce must be 32 lower-case hex digits (shanghai.md §2)")
    message = read_envelope(body)
    envelope = message.envelope
    if auth_header(envelope) is not None:
        raise ValueError("the message already carries an AuthHeader")
    timestamp = str(timestamp_ms)
    sign = compute_sign(secret, app_id, timestamp, nonce, message.operation)
    header = envelope.find(_q(SOAP_NS, "Header"))
    if header is None:
        header = etree.Element(_q(SOAP_NS, "Header"))
        header.text, header.tail = "\n    ", envelope.text
        envelope.insert(0, header)
    auth = etree.SubElement(header, _q(EX_NS, "AuthHeader"))
    for name, value in (("appId", app_id), ("timestamp", timestamp), ("nonce", nonce), ("sign", sign)):
        auth.set(name, value)  # the attribute order of §2 and the samples
    auth.tail = "\n  "
    return _serialise(envelope)


# --- verifying a message
@dataclass(frozen=True, slots=True)
class VerifiedAuth:
    """The authenticated caller and the values the replay check needs; the secret that verified it."""

    app_id: str
    timestamp_ms: int
    nonce: str
    secret: Secret


def verify_auth(message: SoapMessage, secret_for: Callable[[str], Secret | None]) -> VerifiedAuth:
    """Client authentication, then the HMAC-SM3 signature (README §10 step 1, after step 5 for shanghai).

    ``AUTH_FAILED``: no ``AuthHeader``, no ``appId``, or an ``appId`` ``secret_for`` does not know (such a fault is
    answered without an ``AuthHeader``: there is no shared secret to sign with, §2). ``SIGNATURE_INVALID``: a
    missing or ill-formed ``timestamp``, ``nonce`` or ``sign``, or a sign that does not verify. The window and the
    nonce cache come after, at the caller (``check_window`` and a ``ReplayGuard``).
    """
    auth = auth_header(message.envelope)
    if auth is None:
        raise Refusal(C.AUTH_FAILED, "Header/AuthHeader", "the message carries no AuthHeader")
    app_id = auth.get("appId")
    if not app_id:
        raise Refusal(C.AUTH_FAILED, "AuthHeader/@appId", "the AuthHeader names no appId")
    secret = secret_for(app_id)
    if secret is None:
        raise Refusal(C.AUTH_FAILED, "AuthHeader/@appId", "the appId is not known")
    timestamp, nonce, sign = auth.get("timestamp", ""), auth.get("nonce", ""), auth.get("sign", "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refusal(C.SIGNATURE_INVALID, "AuthHeader/@timestamp", "timestamp must be epoch milliseconds")
    if not _NONCE.fullmatch(nonce):
        raise Refusal(C.SIGNATURE_INVALID, "AuthHeader/@nonce", "nonce must be 32 lower-case hex digits")
    try:
        verify_hmac_sm3_hex(secret, string_to_sign(app_id, timestamp, nonce, message.operation), sign)
    except SigningError as exc:
        raise Refusal(C.SIGNATURE_INVALID, "AuthHeader/@sign", "the HMAC-SM3 sign does not verify") from exc
    return VerifiedAuth(app_id, int(timestamp), nonce, secret)


def check_window(timestamp_ms: int, now_ms: int) -> None:
    """``REPLAYED`` when the timestamp is more than 300 000 ms from ``now_ms`` (either side, §2)."""
    if abs(timestamp_ms - now_ms) > WINDOW_MS:
        raise Refusal(C.REPLAYED, "AuthHeader/@timestamp", "timestamp is outside the 300 000 ms window")


def record_type_for(soap_action: str | None, message: SoapMessage) -> str:
    """The record type of a request: its body operation, which the quoted ``SOAPAction`` must name (§1)."""
    record_type = OPERATION_TYPES.get(message.operation_name)
    if record_type is None:
        raise Refusal(C.MALFORMED, "Envelope/Body", "the SOAP operation is not one this service offers")
    if (soap_action or "").strip() != SOAP_ACTIONS[record_type]:
        raise Refusal(C.MALFORMED, "SOAPAction", "the SOAPAction header does not name the body's operation")
    return record_type


# --- the issuer's licence signature (§5.3, anhui.md §6.6) -----------------------------------------------------------
def _licence_element(message: SoapMessage) -> Any:
    licences = message.operation.findall(_q(EX_NS, "Licence"))
    if len(licences) != 1:
        raise Refusal(C.MALFORMED, "queryLicenceResponse/Licence", "the answer must hold exactly one Licence")
    return licences[0]


def read_digital_sign(message: SoapMessage) -> LicenceSignature | None:
    """``ex:Licence/ex:DigitalSign`` of a ``queryLicenceResponse`` (``@alg``, ``@userId``, ``@certSn``, Base64 text)."""
    signs = _licence_element(message).findall(_q(EX_NS, "DigitalSign"))
    if not signs:
        return None
    if len(signs) > 1:
        raise Refusal(C.MALFORMED, "Licence/DigitalSign", "the element occurs twice")
    sign = signs[0]
    user_id = sign.get("userId") or SM2_DEFAULT_USER_ID.decode()  # absent: the GB/T 35276 default identifier
    return LicenceSignature((sign.text or "").strip(), sign.get("certSn") or "", sign.get("alg") or "", user_id)


def insert_digital_sign(body: bytes, signature: LicenceSignature) -> bytes:
    """An unsigned ``queryLicenceResponse`` with ``ex:DigitalSign`` after the ``Surface`` elements (§5.3)."""
    message = read_envelope(body)
    licence = _licence_element(message)
    if licence.find(_q(EX_NS, "DigitalSign")) is not None:
        raise ValueError("the licence already carries a DigitalSign")
    last = licence[-1] if len(licence) else None
    sign = etree.SubElement(licence, _q(EX_NS, "DigitalSign"))
    sign.set("alg", signature.alg)
    sign.set("userId", signature.user_id)
    sign.set("certSn", signature.cert_sn)
    sign.text = signature.value
    if last is not None:  # keep the layout: the new element takes the last child's place, the last child indents
        sign.tail, last.tail = last.tail, last.tail + "  " if last.tail else last.tail
    return _serialise(message.envelope)


def verify_licence_signature(
    licence: Licence,
    signature: LicenceSignature | None,
    keys: Mapping[str, VerificationKey],
    algs: tuple[str, ...] = LICENCE_ALGS,
) -> None:
    """The issuer's signature by ``certSn`` from an allow-list of keys of the ``algs`` algorithms
    (``adapters.licence_sign``), refused at ``Licence/DigitalSign``."""
    issuers = {sn: key.public for sn, key in keys.items() if key.alg in algs}
    verify_issuer_signature(licence, signature, issuers, "Licence/DigitalSign")


# --- WSDL (§1: ``?wsdl``)
_WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:ex="{ns}" targetNamespace="{ns}" name="ExchangeService">
  <wsdl:types>
    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{ns}" elementFormDefault="qualified">
{elements}
    </xs:schema>
  </wsdl:types>
{messages}
  <wsdl:portType name="ExchangePortType">
{port_ops}
  </wsdl:portType>
  <wsdl:binding name="ExchangeBinding" type="ex:ExchangePortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{binding_ops}
  </wsdl:binding>
  <wsdl:service name="ExchangeService">
    <wsdl:port name="ExchangePort" binding="ex:ExchangeBinding">
      <soap:address location="{location}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""


def wsdl_document(location: str) -> bytes:
    """A small WSDL 1.1 document of the three operations (§1), with ``location`` as the service address.

    The element types are left open (``xs:anyType``): the record formats are the document's §5 tables, which the
    adapters enforce; the WSDL names the operations, actions and the AuthHeader for tooling.
    """
    ops = list(OPERATION_TYPES)
    elements = [f'      <xs:element name="{name}" type="xs:anyType"/>' for n in ops for name in (n, f"{n}Response")]
    elements.append('      <xs:element name="AuthHeader" type="xs:anyType"/>')
    messages, port_ops, binding_ops = ["  <wsdl:message name=\"AuthHeader\">"
                                       '<wsdl:part name="AuthHeader" element="ex:AuthHeader"/></wsdl:message>'], [], []
    for n in ops:
        for suffix in ("", "Response"):
            messages.append(f'  <wsdl:message name="{n}{suffix}"><wsdl:part name="body" element="ex:{n}{suffix}"/>'
                            "</wsdl:message>")
        port_ops.append(f'    <wsdl:operation name="{n}"><wsdl:input message="ex:{n}"/>'
                        f'<wsdl:output message="ex:{n}Response"/></wsdl:operation>')
        header = '<soap:header message="ex:AuthHeader" part="AuthHeader" use="literal"/>'
        binding_ops.append(
            f'    <wsdl:operation name="{n}"><soap:operation soapAction="{EX_NS}#{n}"/>'
            f'<wsdl:input><soap:body use="literal"/>{header}</wsdl:input>'
            f'<wsdl:output><soap:body use="literal"/>{header}</wsdl:output></wsdl:operation>'
        )
    text = _WSDL.format(
        ns=EX_NS,
        elements="\n".join(elements),
        messages="\n".join(messages),
        port_ops="\n".join(port_ops),
        binding_ops="\n".join(binding_ops),
        location=_xml_attr(location),
    )
    return text.encode("utf-8")


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
