"""Translation of one message from a source dialect to a destination dialect (README §10, all ten steps).

Steps 1-9 are the source adapter's decoding; step 10 is the destination: an item the destination platform does not
offer (``UNKNOWN_ITEM``) or a catalogue page that cannot become one g60 ``ItemBatch`` is refused at the *source*
message's path, because the sender must learn which of its fields is the problem.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from adapters.base import DialectAdapter, Envelope
from gateway.errors import Refusal
from gateway.errors import RejectionCode as C
from gateway.model.timefmt import BEIJING
from gateway.randomness import random_bytes
from gateway.registry import Platform, Registry

__all__ = [
    "Route",
    "Translator",
    "decode_for",
    "envelope_parties",
    "fresh_envelope",
    "make_envelope",
    "read_input",
    "read_path",
    "route",
    "translate",
    "write_path",
]


def make_envelope(destination: Platform | None, now: datetime, sender: str = "TONGBAN") -> Envelope:
    """Fresh envelope values for a message to ``destination`` (ids are new; the time is the caller's)."""
    party_from, party_to = envelope_parties(destination, sender)
    message_id, request_id = _uuid4_pair()
    return Envelope(message_id, now.astimezone(BEIJING), request_id, party_from, party_to)


def fresh_envelope(sender: str, receiver: str) -> Envelope:
    """``make_envelope`` at this moment, for parties already read (``envelope_parties``)."""
    message_id, request_id = _uuid4_pair()
    return Envelope(message_id, datetime.now(BEIJING), request_id, sender, receiver)


def envelope_parties(destination: Platform | None, sender: str = "TONGBAN") -> tuple[str, str]:
    """The (sender, receiver) party codes of every envelope to ``destination``: the same for each message, so a
    caller sending many (``gateway translate`` over many files) reads them once."""
    settings = destination.settings if destination is not None else {}
    return (
        str(settings.get("sender_code", sender)),
        str(settings.get("receiver_code", destination.id.upper() if destination else "")),
    )


def _uuid4_pair() -> tuple[str, str]:
    """Two random (version 4) UUIDs from the read-ahead pool of OS randomness, in ``str(uuid.UUID)``'s form.

    ``uuid.uuid4`` makes one ``urandom`` call per id, and ``uuid.UUID`` objects cost more to make and print than the
    text itself: together a tenth of ``gateway translate``'s own cost per file (issue 15 item 5). The version and
    variant bits are set as RFC 4122 §4.4 (and ``uuid.UUID(version=4)``) sets them.
    """
    raw = bytearray(random_bytes(32))
    for at in (6, 22):
        raw[at] = raw[at] & 0x0F | 0x40  # version 4
        raw[at + 2] = raw[at + 2] & 0x3F | 0x80  # variant RFC 4122
    h = raw.hex()
    return (
        f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}",
        f"{h[32:40]}-{h[40:44]}-{h[44:48]}-{h[48:52]}-{h[52:64]}",
    )


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
    return _along(registry, route(registry, source, destination, record_type), record_type, body, envelope)


def _along(registry: Registry, path: Route, record_type: str, body: bytes, envelope: Envelope) -> bytes:
    """Steps 3-10 of ``translate`` on a checked route."""
    record = path.source.decode(record_type, body)
    try:
        item_codes = registry.item_codes(path.dst_dialect, record, path.dst_platform)
        return path.destination.encode(record_type, record, envelope, item_codes)
    except Refusal as exc:
        if exc.code is C.UNKNOWN_ITEM:
            raise exc.at(path.source.mapping(record_type).item_where or "") from None
        raise exc.at(path.source.batch_where) from None


class Translator:
    """``translate`` for one (source, destination, record type), with the names resolved and the route checked
    once: ``gateway translate`` over many files called ``translate`` per file, which resolved both names (a sorted
    list of every dialect for each) and looked the route up every time (issue 15 item 5).

    An unknown name is a ``ConfigError`` here, at once (the command line is wrong); a route that is refused
    (``UNSUPPORTED_TYPE``) is raised for each body, after its size check, as ``translate`` orders them.
    """

    __slots__ = ("_path", "_record_type", "_registry", "_source", "destination_platform")

    def __init__(self, registry: Registry, source: str, destination: str, record_type: str) -> None:
        _, self.destination_platform = registry.resolve(destination)
        src_dialect, _ = registry.resolve(source)
        self._registry = registry
        self._record_type = record_type
        self._source = registry.adapter(src_dialect)
        self._path: Route | Refusal
        try:
            self._path = route(registry, source, destination, record_type)
        except Refusal as exc:
            self._path = exc

    def __call__(self, body: bytes, envelope: Envelope) -> bytes:
        """``translate(registry, source, destination, record_type, body, envelope)``."""
        self._source.check_size(body)  # README §10 step 1 comes before step 2
        path = self._path
        if isinstance(path, Refusal):
            raise Refusal(path.code, path.where, path.detail)
        return _along(self._registry, path, self._record_type, body, envelope)


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


def read_path(name: str, limit: int) -> bytes:
    """``read_input`` of the file ``name``, on its descriptor: the same bytes, the same ``OSError`` for a file that
    cannot be read (a directory: ``EISDIR``), without a Python file object per file (issue 15 item 5: the buffered
    reader, its path object and its context were a sixth of ``gateway translate``'s cost per file)."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        want = info.st_size + 1 if stat.S_ISREG(info.st_mode) else _CHUNK
        parts: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(want, left))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def write_path(name: str, data: bytes) -> None:
    """``Path(name).write_bytes(data)`` (created 0o666 less the umask, or truncated) without a file object."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
