"""Every message the gateway receives or sends goes into the message log, with its signature evidence.

- Inbound: the endpoint hands the verified call over with the request's headers (``InboundCall.headers``:
  explicit, no context variable), and ``RecordingHandler`` appends it with its signature-bearing headers
  (``x-ah-jws``, ``x-tif-*``,
  ``x-sm2-*``, ``signature``, ``signature-input``, ``content-digest``, ``soapaction``; XML dialects carry their
  signature inside the body, which is logged whole) before the business handler runs.
- Outbound: ``RecordingTransport`` wraps the transport seam and appends every request sent and every answer
  received, with the same headers. Each client passes what the request is about (``adapters.wire.Exchange``:
  platform, operation, record type, message id, idempotency key, case number, licence id) as an argument of
  ``Transport.send``, token requests included: explicit, no context variable, so concurrent deliveries to
  different platforms are logged with their own ids and nothing depends on which task set what.

The log encrypts message bytes at rest; evidence and the search fields (case number, licence id) stay clear.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from adapters.wire import Exchange, HttpRequest, HttpResponse
from gateway.dialects import evidence_headers
from gateway.msglog.api import MessageLog, NewEntry
from gateway.transport import Transport
from gateway.wire.base import InboundCall, InboundHandler, InboundResult

__all__ = ["Exchange", "RecordingHandler", "RecordingTransport"]


def _evidence(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers any registered dialect declares as evidence (``Dialect.evidence_headers``), in sorted order."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return {name: lowered[name] for name in evidence_headers() if name in lowered}


#: an outbound request sent without a description (a test transport, a tool): logged, but named by nobody
_NO_EXCHANGE = Exchange()


def _search_fields(record: Any) -> tuple[str | None, str | None, str | None]:
    case_no = getattr(record, "case_no", None)
    licence_id = getattr(record, "identifier", None) or getattr(record, "licence_id", None)
    holder = getattr(record, "holder_code", None)
    return case_no, licence_id, holder


class RecordingHandler:
    """Appends each verified inbound call to the message log, then hands it to the business handler."""

    def __init__(self, log: MessageLog, inner: InboundHandler, clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.inner = inner
        self.clock = clock

    async def __call__(self, call: InboundCall) -> InboundResult:
        case_no, licence_id, _ = _search_fields(call.record)
        await self.log.append(
            NewEntry(
                at=self.clock(),
                direction="in",
                platform=call.platform,
                operation=call.operation,
                record_type=call.operation,
                message_id=call.message_id or "",
                idem_key=str(getattr(call.record, "idempotency_key", "") or ""),
                message=call.body,
                evidence=_evidence(call.headers),
                case_no=case_no,
                licence_id=licence_id,
            )
        )
        return await self.inner(call)


class RecordingTransport:
    """The transport seam, with every request and answer appended to the message log."""

    def __init__(self, inner: Transport, log: MessageLog, clock: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.log = log
        self.clock = clock

    async def send(
        self, request: HttpRequest, *, timeout: float = 30.0, exchange: Exchange | None = None
    ) -> HttpResponse:
        ex = exchange or _NO_EXCHANGE
        message_id = ex.message_id or str(uuid.uuid4())
        await self.log.append(self._entry("out", ex, message_id, request.body, request.headers, request.method))
        response = await self.inner.send(request, timeout=timeout, exchange=exchange)
        await self.log.append(self._entry("in", ex, message_id, response.body, response.headers, "answer"))
        return response

    def _entry(
        self, direction: str, ex: Exchange, message_id: str, body: bytes, headers: Mapping[str, str], what: str
    ) -> NewEntry:
        return NewEntry(
            at=self.clock(),
            direction=direction,
            platform=ex.platform,
            operation=f"{ex.operation}:{what}",
            record_type=ex.record_type,
            message_id=message_id,
            idem_key=ex.idem_key,
            message=body,
            evidence=_evidence(headers),
            case_no=ex.case_no,
            licence_id=ex.licence_id,
        )

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()


def ensure_message_log_keys(key_file: Any, seal_key_file: Any, generate: bool) -> None:
    """Development keys for the message log, made on first start when ``generate`` (``[dev] credentials``)."""
    import os  # noqa: PLC0415
    import secrets  # noqa: PLC0415

    from gateway.errors import ConfigError  # noqa: PLC0415
    from signing.devpki import generate_ed25519, private_key_pem  # noqa: PLC0415

    def data_key() -> bytes:
        return secrets.token_hex(16).encode("ascii")

    def seal_key() -> bytes:
        return private_key_pem(generate_ed25519())

    makers: tuple[tuple[Any, Callable[[], bytes]], ...] = ((key_file, data_key), (seal_key_file, seal_key))
    for path, make in makers:
        if path is None or path.exists():  # None: the key comes from elsewhere (the environment)
            continue
        if not generate:
            raise ConfigError(
                "configuration",
                "message_log",
                f"the key file {path} does not exist",
                "create it (production keys come from the key custodian)",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(make())
