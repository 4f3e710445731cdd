"""Translation of one message from a source dialect to a destination dialect (README §10, all ten steps).

Steps 1-9 are the source adapter's decoding; step 10 is the destination: an item the destination platform does not
offer (``UNKNOWN_ITEM``) or a catalogue page that cannot become one g60 ``ItemBatch`` is refused at the *source*
message's path, because the sender must learn which of its fields is the problem.
"""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from adapters.base import DialectAdapter, Envelope
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.timefmt import BEIJING
from gateway.randomness import random_bytes
from gateway.registry import Platform, Registry

__all__ = ["Route", "decode_for", "make_envelope", "read_input", "route", "translate"]


def make_envelope(destination: Platform | None, now: datetime, sender: str = "TONGBAN") -> Envelope:
    """Fresh envelope values for a message to ``destination`` (ids are new; the time is the caller's)."""
    settings = destination.settings if destination is not None else {}
    return Envelope(
        message_id=_uuid4(),
        sent_at=now.astimezone(BEIJING),
        request_id=_uuid4(),
        sender=str(settings.get("sender_code", sender)),
        receiver=str(settings.get("receiver_code", destination.id.upper() if destination else "")),
    )


def _uuid4() -> str:
    """A random (version 4) UUID from the read-ahead pool of OS randomness: ``uuid.uuid4`` makes one ``urandom``
    call per id, which was a tenth of ``gateway translate``'s own cost per file (issue 15 item 5)."""
    return str(uuid.UUID(bytes=random_bytes(16), version=4))


def _check_carried(registry: Registry, name: str, record_type: str) -> None:
    dialect, platform = registry.resolve(name)
    registry.adapter(dialect).mapping(record_type)
    if platform is not None and platform.record_types and record_type not in platform.record_types:
        raise Refusal(C.UNSUPPORTED_TYPE, None, f"platform {platform.id} does not carry {record_type} records")


@dataclass(frozen=True, slots=True)
class Route:
    """A checked (source, destination, record type): both sides carry the type (README §10 step 2)."""

    source: DialectAdapter
    destination: DialectAdapter
    dst_dialect: str
    dst_platform: Platform | None


def route(registry: Registry, source: str, destination: str, record_type: str) -> Route:
    """The translation route, checked once per registry and remembered; raises UNSUPPORTED_TYPE like step 2."""

    def make() -> Route | Refusal:
        try:
            _check_carried(registry, source, record_type)
            _check_carried(registry, destination, record_type)
        except Refusal as exc:
            return exc
        src_dialect, _ = registry.resolve(source)
        dst_dialect, dst_platform = registry.resolve(destination)
        return Route(registry.adapter(src_dialect), registry.adapter(dst_dialect), dst_dialect, dst_platform)

    found = registry.memo(("route", source, destination, record_type), make)
    if isinstance(found, Refusal):
        raise Refusal(found.code, found.where, found.detail)
    result: Route = found
    return result


def decode_for(registry: Registry, source: str, destination: str, record_type: str, body: bytes) -> Any:
    """Steps 1-9: the canonical record of ``body``, after checking both sides carry ``record_type``."""
    src_dialect, _ = registry.resolve(source)
    registry.adapter(src_dialect).check_size(body)
    return route(registry, source, destination, record_type).source.decode(record_type, body)


def translate(
    registry: Registry,
    source: str,
    destination: str,
    record_type: str,
    body: bytes,
    envelope: Envelope,
) -> bytes:
    """``body`` (a ``record_type`` message in ``source``'s dialect) rendered for ``destination``."""
    src_dialect, _ = registry.resolve(source)
    registry.adapter(src_dialect).check_size(body)  # README §10 step 1 comes before step 2
    path = route(registry, source, destination, record_type)
    record = path.source.decode(record_type, body)
    try:
        item_codes = registry.item_codes(path.dst_dialect, record, path.dst_platform)
        return path.destination.encode(record_type, record, envelope, item_codes)
    except Refusal as exc:
        if exc.code is C.UNKNOWN_ITEM:
            raise exc.at(path.source.mapping(record_type).item_where or "") from None
        raise exc.at(path.source.batch_where) from None


_CHUNK = 64 * 1024  # read size when the input's size is not known beforehand (a pipe, a terminal)


def read_input(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``stream``: enough for README §10 step 1 to refuse ``BODY_TOO_LARGE``.

    Issue 11 item 8: ``gateway translate /dev/zero`` (or an endless stdin) read until memory ran out. Issue 15 item 5:
    one ``read(limit + 1)`` allocated the whole limit (2 MiB) for every file, the largest cost per file of
    ``gateway translate`` beyond the translation itself; so a regular file is read at its size (plus one byte, to see
    a file that grew past it) and anything else in chunks, never past ``limit + 1`` bytes in all.
    """
    want = _CHUNK
    try:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode):
            want = info.st_size + 1
    except (OSError, AttributeError, ValueError):  # no descriptor (an in-memory stream): chunks
        pass
    parts: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = stream.read(min(want, left))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
