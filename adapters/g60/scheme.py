"""The g60 wire scheme (g60.md §1, §4, §7, §9) as pure functions for both roles: no I/O, no clock, no HTTP.

The scheme has no headers of its own: the client is authenticated by mutual TLS (§1: a G60 CA certificate whose
subject ``serialNumber`` is the ``SenderCode``), and every message, answers included, carries an enveloped XMLDSig
(§4) made with the sender's G60 CA signing certificate. Because both live inside (or under) the document, README
§10 step 1 runs after the document has been read safely (steps 3-5): ``read_message`` first, then
``authenticate_peer`` (``AUTH_FAILED``), ``verify_signature`` (``SIGNATURE_INVALID``; a signer whose
``serialNumber`` is not the ``SenderCode`` is ``AUTH_FAILED``) and ``check_window`` (``REPLAYED``: ``SentAt`` more
than 300 s from the receiver's clock, §7).

g60 carries no nonce: a message sent again (same ``MessageId``, within 7 days) gets the first receipt (§7), which
the receiver's record book gives; a captured message replayed later than the window is ``REPLAYED``.

Callers pass ``now`` (Unix seconds) and the ids; the record bytes come from :mod:`adapters.g60.codec`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from lxml import etree

from adapters.licence_sign import verify_issuer_signature
from gateway.delivery.outcomes import ServerError, Throttled
from gateway.delivery.retry_after import parse_retry_after
from gateway.errors import Refusal, Side
from gateway.errors import RejectionCode as C
from gateway.model.licence_sign import LicenceSignature, licence_signing_string
from gateway.model.records import Licence
from gateway.model.timefmt import BEIJING
from signing.errors import SigningError
from signing.sm import sm2_sign_b64
from signing.trust import TrustStore, subject_serial_number
from signing.xmldsig import sign_enveloped, sign_in_place, verify_enveloped

from ..xmlwire import parse_xml
from .codec import DECLARATION, NS, Receipt, parse_envelope

__all__ = [
    "ANSWER_TYPES",
    "MESSAGE_PATH",
    "OPERATIONS",
    "RECORD_TYPES",
    "REPEATED",
    "UNKNOWN_REF",
    "WINDOW",
    "YRDMAP_PATH",
    "Signer",
    "authenticate_peer",
    "check_receiver",
    "check_window",
    "licence_signature",
    "operation_of",
    "put_licence_signature",
    "read_answer",
    "read_licence_signature",
    "read_message",
    "receipt_message_id",
    "refusal_of",
    "sent_at",
    "sign_message",
    "sign_rendered",
    "to_bytes",
    "verify_licence_signature",
    "verify_signature",
]

MESSAGE_PATH = "/g60/v1/messages"  # §1: the one endpoint of the G60 hub
YRDMAP_PATH = "/yrdmap/v1/itembatch"  # §9: the 长三角政务服务地图's item batches
WINDOW = 300.0  # §7: SentAt more than 300 s from the receiver's clock is REPLAYED
#: §3 MessageType of a request → the wire layer's operation
OPERATIONS: dict[str, str] = {
    "CaseSubmit": "case",
    "CaseStatus": "status",
    "LicenceQuery": "licence_query",
    "ItemBatch": "item_batch",
}
#: operation → the adapter's record type
RECORD_TYPES: dict[str, str] = {
    "case": "case",
    "status": "status",
    "licence_query": "licence_query",
    "item_batch": "item",
}
ANSWER_TYPES = frozenset({"Receipt", "ItemBatchResult", "LicenceData"})  # §7, §9, §6.3
#: ``Receipt/Message`` of the first receipt given again for a repeated message (§7; decision, the text is free)
REPEATED = "REPEATED: the first receipt of this message"
#: ``RefMessageId`` when the refused message's own MessageId could not be read (§7 needs one; decision)
UNKNOWN_REF = "UNKNOWN"
_SENT_AT = re.compile(r"[0-9]{14}")
_RECEIPT_NS = uuid.UUID("4f1c9a53-6b0e-4d7e-9d35-60a1b2c3d4e5")  # fixed: receipt ids are stable per receipt


@dataclass(frozen=True)
class Signer:
    """What one side signs with (§4): its G60 CA signing certificate and RSA key (never shown by ``repr``)."""

    cert: x509.Certificate
    key: Any = field(repr=False)
    intermediates: tuple[x509.Certificate, ...] = ()

    @property
    def code(self) -> str | None:
        """The certificate's subject ``serialNumber``: the SenderCode this signer may write (§1, §4)."""
        return subject_serial_number(self.cert)


# --- bytes ------------------------------------------------------------------------------------------------------
def to_bytes(root: Any) -> bytes:
    """§2: the mandatory declaration, then the document in GB18030 (GB 18030-2005 mapping, Python's codec)."""
    text: str = etree.tostring(root, encoding="unicode")
    return DECLARATION + text.encode("gb18030")


def sign_message(root: Any, signer: Signer) -> bytes:
    """§4: the enveloped signature appended as the last child of ``G60Message``, as message bytes."""
    return to_bytes(sign_enveloped(root, signer.key, signer.cert, signer.intermediates))


def sign_rendered(body: bytes, signer: Signer) -> bytes:
    """Sign a message the adapter rendered (unsigned bytes, as the samples).

    The adapter's own output (it starts with the exact declaration the adapter writes) is known to be well formed
    and DTD-free, so it is only decoded (GB 18030-2005, §2) and parsed, without the envelope checks an incoming
    message gets; anything else takes the full checks of ``parse_envelope``. The parsed tree is this call's own, so
    it is signed where it stands (no copy): the same bytes as ``sign_message`` on that tree.
    """
    if body.startswith(DECLARATION):
        root = parse_xml(body[len(DECLARATION) :].decode("gb18030"))
    else:
        _, root = parse_envelope(body)
    return to_bytes(sign_in_place(root, signer.key, signer.cert, signer.intermediates))


def read_message(body: bytes) -> tuple[dict[str, str], Any]:
    """README §10 steps 3-5 and the envelope's root: the Header values and the parsed root."""
    return parse_envelope(body)


# --- README §10 step 1, after step 5 ---------------------------------------------------------------------------
def authenticate_peer(header: dict[str, str], tls_code: str | None, allowed: frozenset[str]) -> str:
    """§1: the TLS client certificate's ``serialNumber`` must be the ``SenderCode`` (and one we deal with)."""
    sender = header.get("SenderCode")
    if tls_code is None:
        raise Refusal(C.AUTH_FAILED, None, "no accepted client certificate")
    if sender is None or sender != tls_code:
        raise Refusal(C.AUTH_FAILED, "Header/SenderCode", "SenderCode differs from the client certificate")
    if sender not in allowed:
        raise Refusal(C.AUTH_FAILED, "Header/SenderCode", "this sender is not a partner of this link")
    return sender


def verify_signature(root: Any, header: dict[str, str], trust: TrustStore, now: float) -> x509.Certificate:
    """§4: the profile, the chain to the G60 CA at ``now``, the digest and signature; signer = ``SenderCode``."""
    try:
        cert = verify_enveloped(root, trust, now=now)
        code = subject_serial_number(cert)
    except SigningError as exc:
        raise Refusal(C.SIGNATURE_INVALID, "ds:Signature", exc.reason) from exc
    if code is None or code != header.get("SenderCode"):
        raise Refusal(C.AUTH_FAILED, "Header/SenderCode", "the signing certificate is not the SenderCode's")
    return cert


def sent_at(header: dict[str, str]) -> float:
    """``Header/SentAt`` (``yyyyMMddHHmmss``, Beijing time) as Unix seconds; unreadable is ``REPLAYED``."""
    text = header.get("SentAt")
    if text is None or not _SENT_AT.fullmatch(text):
        raise Refusal(C.REPLAYED, "Header/SentAt", "SentAt is missing or not yyyyMMddHHmmss")
    try:
        when = datetime(
            int(text[:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            tzinfo=BEIJING,
        )
    except ValueError:
        raise Refusal(C.REPLAYED, "Header/SentAt", "SentAt is not a date-time") from None
    return when.timestamp()


def check_window(timestamp: float, now: float, window: float = WINDOW) -> None:
    """§7: more than ``window`` seconds from the receiver's clock, either way, is ``REPLAYED``."""
    if abs(timestamp - now) > window:
        raise Refusal(C.REPLAYED, "Header/SentAt", f"SentAt is more than {window:g} s from the receiver's clock")


# --- README §10 step 6 -----------------------------------------------------------------------------------------
def operation_of(header: dict[str, str], accepted: frozenset[str]) -> str:
    """The operation a request's ``MessageType`` names; unknown is ``MALFORMED``, not taken here unsupported."""
    message_type = header.get("MessageType")
    operation = OPERATIONS.get(message_type or "")
    if operation is None:
        raise Refusal(C.MALFORMED, "Header/MessageType", "not a request MessageType of g60.md §3")
    if operation not in accepted:
        raise Refusal(C.UNSUPPORTED_TYPE, "Header/MessageType", "this platform does not take this MessageType")
    return operation


def check_receiver(header: dict[str, str], own_code: str) -> None:
    """A message addressed to another party is not ours (envelope, ``MALFORMED``; decision: §3 is silent)."""
    if header.get("ReceiverCode") != own_code:
        raise Refusal(C.MALFORMED, "Header/ReceiverCode", "the message is addressed to another receiver")


def receipt_message_id(own_code: str, receipt_no: str) -> str:
    """The ``MessageId`` of the receipt for ``receipt_no``: the same UUID whenever that receipt is given again."""
    return str(uuid.uuid5(_RECEIPT_NS, f"{own_code}:{receipt_no}"))


# --- the licence signature (§6.3, anhui.md §6.6) ---------------------------------------------------------------
def _digital_sign(root: Any) -> tuple[Any, Any]:
    """(the Licence element, its DigitalSign or None) of a ``LicenceData`` message."""
    licences = root.findall(f"{{{NS}}}Body/{{{NS}}}Licence")
    if len(licences) != 1:
        raise Refusal(C.MALFORMED, "Body", "Body must hold exactly one Licence")
    signs = licences[0].findall(f"{{{NS}}}DigitalSign")
    if len(signs) > 1:
        raise Refusal(C.MALFORMED, "Licence/DigitalSign", "element DigitalSign occurs more than once")
    return licences[0], (signs[0] if signs else None)


def read_licence_signature(root: Any) -> LicenceSignature | None:
    """``Licence/DigitalSign`` (an envelope field, README §9), or ``None`` when the licence carries none."""
    _, sign = _digital_sign(root)
    if sign is None:
        return None
    return LicenceSignature(
        value="".join((sign.text or "").split()),
        cert_sn=sign.get("CertSn") or "",
        alg=sign.get("Alg") or "",
        user_id=sign.get("UserId") or "",
    )


def put_licence_signature(root: Any, signature: LicenceSignature) -> None:
    """§6.3: ``<DigitalSign Alg UserId CertSn>`` right after ``Surface``, before the message is signed."""
    licence, old = _digital_sign(root)
    if old is not None:
        licence.remove(old)
    element = etree.Element(
        f"{{{NS}}}DigitalSign", Alg=signature.alg, UserId=signature.user_id, CertSn=signature.cert_sn
    )
    element.text = signature.value
    surface = licence.find(f"{{{NS}}}Surface")
    if surface is None:
        licence.append(element)
    else:
        surface.addnext(element)


def licence_signature(licence: Licence, private: Any, cert_sn: str) -> LicenceSignature:
    """The issuer's SM2-SM3 signature over the licence signing string (anhui.md §6.6)."""
    return LicenceSignature(sm2_sign_b64(private, licence_signing_string(licence)), cert_sn)


def verify_licence_signature(licence: Licence, signature: LicenceSignature | None, keys: dict[str, Any]) -> None:
    """anhui.md §6.6 under a key we hold for ``CertSn`` (``adapters.licence_sign``), refused at
    ``Licence/DigitalSign``."""
    verify_issuer_signature(licence, signature, keys, "Licence/DigitalSign")


# --- the client's reading of an answer (§7, §9) -----------------------------------------------------------------
def read_answer(
    status: int, retry_after: str | None, body: bytes, trust: TrustStore, peer_codes: frozenset[str], now: float
) -> tuple[dict[str, str], Any]:
    """An answer's verified Header and root, or the delivery outcome the HTTP status and signature say.

    §7: answers are HTTP 200 messages; other statuses are transport faults (429 ``Throttled``, 5xx and the rest
    ``ServerError``). An answer that is unreadable, unsigned, badly signed or not signed by the peer is
    ``ServerError("unverified answer")``: the receiver may have accepted the message, so the safe move is a retry
    under the same ``MessageId`` (which gets the first receipt).
    """
    wait = parse_retry_after(retry_after, now)
    if status == 429:
        raise Throttled("HTTP 429", retry_after=wait)
    if status == 413:
        raise Refusal(C.BODY_TOO_LARGE, None, "the receiver refused the body size", side=Side.PEER)
    if status != 200:
        raise ServerError(f"HTTP {status}", retry_after=wait if status >= 500 else None)
    try:
        header, root = parse_envelope(body)
        verify_signature(root, header, trust, now)
    except Refusal as exc:
        raise ServerError("unverified answer") from exc
    if header.get("SenderCode") not in peer_codes or header.get("MessageType") not in ANSWER_TYPES:
        raise ServerError("unverified answer")
    return header, root


def refusal_of(receipt: Receipt, message_id: str) -> Refusal | None:
    """A ``REJECTED`` receipt (§7) as the peer's refusal it is; ``None`` for ``ACCEPTED``.

    ``ServerError("unverified answer")`` when the receipt answers another message.
    """
    if receipt.ref_message_id not in (message_id, UNKNOWN_REF) or (
        receipt.accepted and receipt.ref_message_id != message_id
    ):
        raise ServerError("unverified answer")
    if receipt.accepted:
        return None
    code = receipt.error_code if receipt.error_code is not None else C.MALFORMED  # parsed once, by the codec
    return Refusal(code, receipt.error_path, receipt.message or "", side=Side.PEER)
