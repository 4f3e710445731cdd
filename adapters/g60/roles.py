"""The g60 wire scheme in both roles (g60.md §1, §4, §7, §9): mutual TLS plus an enveloped XMLDSig on every message.

Client role (``Client``): the gateway calling the G60 hub (``CaseSubmit``, ``CaseStatus``, ``LicenceQuery``) or the
长三角政务服务地图 (``ItemBatch``), and a simulated hub calling the gateway back. Every call renders the record
with a fresh ``SentAt``, signs it, sends it with the client certificate through the ``Transport``, and believes
only an answer signed by the peer (``SenderCode`` one of the peer's codes, certificate from the G60 CA).

Server role (``Endpoint``): README §10 in g60's order: body size, then the document read safely (steps 3-5), then
the TLS peer against ``SenderCode`` (``AUTH_FAILED``), the signature (``SIGNATURE_INVALID``), ``SentAt``
(``REPLAYED``), then the envelope and the fields; every answer, refusals included, is a signed message with
HTTP 200 (§7). The pure parts (what is signed, checked and answered) live in :mod:`adapters.g60.scheme`.

g60 has no nonce (§7): a message sent again gets the first receipt from the handler's record book, keyed by
``MessageId``; the replay defence is the ``SentAt`` window. The endpoint therefore does not use the replay guard's
nonce cache (an exact resend must get the first receipt, not ``REPLAYED``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography import x509

from adapters.base import Envelope
from adapters.g60.codec import (
    G60Adapter,
    ItemBatchResult,
    Receipt,
    item_batch_result_of,
    receipt_of,
    render_item_batch_result,
    render_receipt,
)
from adapters.g60.codec import ItemResult as G60ItemResult
from adapters.g60.scheme import (
    MESSAGE_PATH,
    REPEATED,
    UNKNOWN_REF,
    YRDMAP_PATH,
    authenticate_peer,
    check_receiver,
    check_window,
    operation_of,
    put_licence_signature,
    read_answer,
    read_licence_signature,
    read_message,
    receipt_message_id,
    refusal_of,
    sent_at,
    sign_message,
    sign_rendered,
    verify_licence_signature,
    verify_signature,
)
from adapters.wire import HttpRequest, HttpResponse
from gateway.delivery.outcomes import ServerError
from gateway.errors import ConfigError, Refusal
from gateway.errors import RejectionCode as C
from gateway.model.records import Item, ItemBatch, LicenceQuery
from gateway.model.timefmt import BEIJING
from gateway.observability.refusals import note_refusal
from gateway.registry import Platform, item_codes_for
from gateway.wire.base import (
    Accepted,
    BatchResult,
    InboundCall,
    InboundResult,
    ItemResult,
    LicenceAnswer,
    PlatformClient,
    PlatformEndpoint,
    Route,
    WireContext,
    fault_of,
    log_fault,
)
from signing.errors import SigningError
from signing.trust import Usage, subject_serial_number

from .link import Link, generate_link, load_link, server_ssl_context

__all__ = [
    "Client",
    "Endpoint",
    "Link",
    "generate_link",
    "load_link",
    "server_ssl_context",
]

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/xml; charset=GB18030"  # §1
_SOURCE = "g60 link settings"
#: Platform.record_types → the operations its endpoint takes (empty: all the dialect carries)
_OPERATIONS = {"case": "case", "status": "status", "licence": "licence_query", "item": "item_batch"}
_IDENTIFIER = "LicenceQuery/Identifier"  # §6.3: where an unknown licence is refused
_NS = "{urn:yrd:g60:ywtb:1.0}"


# --- shared ------------------------------------------------------------------------------------------------------
def path_for(platform: Platform) -> str:
    """§1 / §9: a platform that takes only items is the 长三角政务服务地图's ``itembatch``; else the hub's path."""
    return YRDMAP_PATH if set(platform.record_types) == {"item"} else MESSAGE_PATH


def _adapter(ctx: WireContext) -> G60Adapter:
    """The g60 adapter's finer helpers (``record_tree`` on an envelope already read and verified)."""
    adapter = ctx.adapter
    if not isinstance(adapter, G60Adapter):
        raise ConfigError(_SOURCE, "dialect", f"the g60 scheme needs the g60 adapter, not {adapter.name!r}")
    return adapter


def _envelope(message_id: str, now: float, sender: str, receiver: str) -> Envelope:
    return Envelope(message_id, datetime.fromtimestamp(now, BEIJING), message_id, sender, receiver)


# --- client role -------------------------------------------------------------------------------------------------
class Client(PlatformClient):
    """The client role towards ``ctx.base_url`` (see the module docstring)."""

    @property
    def link(self) -> Link:
        link: Link = self.ctx.link
        return link

    def _url(self) -> str:
        path = path_for(self.ctx.platform)
        base = self.ctx.base_url.rstrip("/")
        return base if base.endswith(path) else base + path  # config may name the endpoint itself

    async def _call(self, record_type: str, record: Any, message_id: str) -> tuple[dict[str, str], Any]:
        now = self.ctx.clock()  # a fresh SentAt and signature on every call: a retry is re-signed
        envelope = _envelope(message_id, now, self.link.code, self.link.peer_code)
        codes = item_codes_for(self.ctx.adapter.tables, self.ctx.platform)  # what intake checked (one function)
        body = sign_rendered(
            self.ctx.adapter.encode(record_type, record, envelope, codes if record_type == "case" else None),
            self.link.signer,
        )
        request = HttpRequest("POST", self._url(), {"content-type": CONTENT_TYPE}, body, tls=self.link.client_tls)
        response = await self.transport.send(request)
        return read_answer(
            response.status,
            response.header("retry-after"),
            response.body,
            self.link.trust,
            self.link.peer_codes,
            self.ctx.clock(),
        )

    @staticmethod
    def _answer(header: dict[str, str], root: Any, message_id: str, expected: str) -> Receipt | None:
        """The answer's ``Receipt``, if it is one (read from the envelope already parsed and verified).

        A ``Receipt`` where ``expected`` was due is a refusal (§7); anything else is not an answer.
        """
        receipt = None
        if header.get("MessageType") == "Receipt":
            try:
                receipt = receipt_of(header, root)
            except Refusal as exc:
                raise _unverified() from exc
            refusal = refusal_of(receipt, message_id)
            if refusal is not None:
                raise refusal
        if header.get("MessageType") != expected:
            raise _unverified()
        return receipt

    async def submit(self, record_type: str, record: Any, message_id: str) -> Accepted:
        if record_type not in ("case", "status"):
            return await super().submit(record_type, record, message_id)
        header, root = await self._call(record_type, record, message_id)
        receipt = self._answer(header, root, message_id, "Receipt")
        if receipt is None:  # unreachable: a Receipt was expected and checked above
            raise _unverified()
        return Accepted(header.get("MessageId", ""), repeated=receipt.message == REPEATED)

    async def query_licence(self, query: LicenceQuery, message_id: str) -> LicenceAnswer:
        header, root = await self._call("licence_query", query, message_id)
        self._answer(header, root, message_id, "LicenceData")
        adapter = _adapter(self.ctx)
        # the peer signed it, so it is the peer's answer: a permanent refusal
        licence = adapter.decode_record(adapter.mapping("licence"), adapter.record_tree("licence", header, root))
        signature = read_licence_signature(root)
        verify_licence_signature(licence, signature, dict(self.link.licence_keys))
        return LicenceAnswer(licence, signature)

    async def upload_items(self, batch: ItemBatch, message_id: str) -> BatchResult:
        header, root = await self._call("item", batch, message_id)
        self._answer(header, root, message_id, "ItemBatchResult")
        try:
            result = item_batch_result_of(header, root)
        except Refusal as exc:
            raise _unverified() from exc
        return BatchResult(
            result.batch_no,
            tuple(
                ItemResult(r.catalog_code, r.region, r.ok, r.error_code.value if r.error_code else None, r.error_path)
                for r in result.results
            ),
        )


def _unverified() -> ServerError:
    return ServerError("unverified answer")


# --- server role -------------------------------------------------------------------------------------------------
class Endpoint(PlatformEndpoint):
    """The server role (see the module docstring); one route, ``path_for(platform)``."""

    @property
    def link(self) -> Link:
        link: Link = self.ctx.link
        return link

    def routes(self) -> list[Route]:
        return [Route("POST", path_for(self.ctx.platform), self._handle)]

    def refuse(self, request: HttpRequest, rejection: Refusal) -> HttpResponse:
        """§7: even a body too large is answered with a signed ``REJECTED`` receipt, HTTP 200."""
        return self._http(200, self._refuse({}, rejection), {})

    def _operations(self) -> frozenset[str]:
        types = self.ctx.platform.record_types or tuple(_OPERATIONS)
        return frozenset(_OPERATIONS[t] for t in types if t in _OPERATIONS)

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        """The client certificate is the one the mutual-TLS handshake verified (the edge hands it over)."""
        peer: x509.Certificate | None = request.peer_certificate
        return self._http(*await self.respond(request.body, peer, request.headers))

    @staticmethod
    def _http(status: int, answer: bytes, extra: dict[str, str]) -> HttpResponse:
        return HttpResponse(status, {"content-type": CONTENT_TYPE, **extra}, answer)

    def _peer_code(self, peer: x509.Certificate | None) -> str | None:
        """The TLS client certificate's code, re-checked at the injected clock for the TLS client usage."""
        if peer is None:
            return None
        try:
            self.link.trust.verify(peer, now=self.ctx.clock(), usage=Usage.TLS_CLIENT)
            return subject_serial_number(peer)
        except SigningError:
            return None

    async def answer(self, body: bytes, peer: x509.Certificate | None) -> bytes:
        """README §10 for g60 (see the module docstring); the signed answer, refusals included."""
        return (await self.respond(body, peer))[1]

    async def respond(
        self, body: bytes, peer: x509.Certificate | None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """The HTTP status, the signed answer and extra headers: 200 for every answer and refusal (§7); a call the
        endpoint could not serve is a transport fault (§7: "HTTP 4xx/5xx only for transport faults"), a 503 with
        ``Retry-After`` for a store outage, else 500, with a signed ``REJECTED`` receipt naming no rejection code."""
        header: dict[str, str] = {}
        try:
            return 200, await self._answer_of(body, peer, header, headers or {}), {}
        except Exception as exc:  # never an unsigned page
            fault = fault_of(exc)
            log_fault(log, self.ctx.platform.id, "message", exc, fault)
            receipt = Receipt(header.get("MessageId") or UNKNOWN_REF, False, message="platform fault, retry later")
            signed = sign_rendered(render_receipt(receipt, self._answer_envelope(header)), self.link.signer)
            return fault.status, signed, fault.headers

    async def _answer_of(
        self, body: bytes, peer: x509.Certificate | None, header: dict[str, str], headers: Mapping[str, str]
    ) -> bytes:
        """README §10 steps in g60's order; ``header`` is filled as soon as it is read (a fault answer names it)."""
        try:
            self.ctx.adapter.check_size(body)
            read, root = read_message(body)
            header.update(read)
            sender = authenticate_peer(header, self._peer_code(peer), self.link.peer_codes)
            now = self.ctx.clock()
            verify_signature(root, header, self.link.trust, now)
            check_window(sent_at(header), now)
            check_receiver(header, self.link.code)
            operation = operation_of(header, self._operations())
            message_id = header.get("MessageId")
            if message_id is None:
                raise Refusal(C.MALFORMED, "Header/MessageId", "a message carries its MessageId")
            record = self._decode(operation, header, root)
            call = InboundCall(self.ctx.platform.id, sender, operation, record, message_id, body, headers=headers)
            result = await self.handler(call)
            return self._render(header, root, result)
        except Refusal as exc:
            return self._refuse(header, exc)
        except SigningError as exc:
            return self._refuse(header, Refusal(C.SIGNATURE_INVALID, None, exc.reason))

    def _decode(self, operation: str, header: dict[str, str], root: Any) -> Any:
        adapter = _adapter(self.ctx)
        record_type = "item" if operation == "item_batch" else operation
        mapping = adapter.mapping(record_type)
        tree = adapter.record_tree(record_type, header, root)  # README §10 steps 6-7 (batch counts first)
        if operation != "item_batch":
            return adapter.decode_record(mapping, tree)
        entries: list[Item | Refusal] = []
        for i, item_tree in enumerate(tree):  # §9: each item on its own; a bad one does not stop the batch
            try:
                entries.append(adapter.decode_record(mapping, item_tree))
            except Refusal as exc:
                where = adapter.entry_where(exc.where, i)
                entries.append(exc.at(where.removeprefix("ItemBatch/").replace(f"Item[{i + 1}]", "Item", 1)))
        return entries

    def _answer_envelope(self, header: dict[str, str], message_id: str | None = None) -> Envelope:
        return _envelope(
            message_id or str(uuid.uuid4()), self.ctx.clock(), self.link.code, header.get("SenderCode", "")
        )

    def _render(self, header: dict[str, str], root: Any, result: InboundResult) -> bytes:
        ref = header["MessageId"]
        if isinstance(result, Accepted):
            receipt = Receipt(ref, True, message=REPEATED if result.repeated else None)
            envelope = self._answer_envelope(header, receipt_message_id(self.link.code, result.receipt_no))
            return sign_rendered(render_receipt(receipt, envelope), self.link.signer)
        if isinstance(result, BatchResult):
            batch = root.find(f"{_NS}Body/{_NS}ItemBatch")
            answer = ItemBatchResult(
                batch.get("BatchNo") or result.batch_no,
                tuple(
                    G60ItemResult(r.item_code, r.region, r.ok, None if r.code is None else C(r.code), r.where)
                    for r in result.results
                ),
            )
            return sign_rendered(render_item_batch_result(answer, self._answer_envelope(header)), self.link.signer)
        if isinstance(result, LicenceAnswer):
            rendered = self.ctx.adapter.encode("licence", result.licence, self._answer_envelope(header))
            _, answer_root = read_message(rendered)
            if result.signature is not None:
                put_licence_signature(answer_root, result.signature)
            return sign_message(answer_root, self.link.signer)
        raise Refusal(C.UNSUPPORTED_TYPE, None, "this endpoint has no answer of that kind")

    def _refuse(self, header: dict[str, str], rejection: Refusal) -> bytes:
        """§7: a ``REJECTED`` receipt, signed like every answer."""
        note_refusal(rejection)  # counted and logged once, at the gateway's partner edge
        receipt = Receipt.reject(header.get("MessageId") or UNKNOWN_REF, rejection)
        return sign_rendered(render_receipt(receipt, self._answer_envelope(header)), self.link.signer)


def _sent_names(ctx: WireContext, body: bytes) -> list[tuple[str, str]]:
    """(CatalogCode, Region) of each Item as sent: §9 names a refused item too. Only read when one was refused."""
    header, root = read_message(body)
    names = []
    for tree in _adapter(ctx).record_tree("item", header, root):
        code, region = tree.get("CatalogCode"), tree.get("Region")
        names.append((code if isinstance(code, str) else "", region if isinstance(region, str) else ""))
    return names


# --- simulator extras --------------------------------------------------------------------------------------------
