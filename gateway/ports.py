"""Ports the commands listen on: checked before anything starts, so a busy port is one line, not a traceback.

A command knows which setting or flag each of its ports comes from; ``first_busy`` binds each port briefly (as
the listeners will, address reuse on) and returns the first that cannot be bound, with that setting, so the message
can say what to change. The check and the real bind race in principle; the listener's own error is the backstop.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BusyPort", "Listen", "first_busy"]

NOT_HERE = "is not an address of this machine"


@dataclass(frozen=True, slots=True)
class Listen:
    """A port a command is about to listen on, and what sets it (``server.port in FILE, or serve --port``)."""

    host: str
    port: int
    setting: str


@dataclass(frozen=True, slots=True)
class BusyPort:
    listen: Listen
    reason: str

    def message(self) -> str:
        if self.reason == NOT_HERE:
            return f"{self.listen.host} {NOT_HERE}; change server.host in the configuration (serve --host)"
        where = f"{self.listen.host}:{self.listen.port}"
        return f"port {self.listen.port} ({where}) {self.reason}; change {self.listen.setting}"


def _bind_error(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is in use"
            if exc.errno == errno.EADDRNOTAVAIL:
                return NOT_HERE
            return f"cannot be bound ({exc.strerror or exc})"
    return None


def first_busy(listens: Iterable[Listen]) -> BusyPort | None:
    """The first of ``listens`` that cannot be bound now (port 0, any free port, always can)."""
    for listen in listens:
        if listen.port == 0:
            continue
        reason = _bind_error(listen.host, listen.port)
        if reason is not None:
            return BusyPort(listen, reason)
    return None
