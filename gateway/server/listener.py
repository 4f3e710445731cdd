"""The listeners' guard: connection caps and a request-head deadline, below aiohttp, on every listener.

Why a wrapper at the protocol level (issue 11 item 2): aiohttp closes an idle keep-alive connection
(``keepalive_timeout``, given to the runner) and the gateway bounds each call in middleware (``request_timeout``),
but aiohttp has no cap on open connections and no deadline for a request head: one client holding 20,000 idle
connections took the gateway to its file-descriptor limit, and 100 connections sending their head a byte at a time
were never closed. Every accepted connection passes through :class:`GuardedProtocol` before aiohttp's request
handler sees a byte:

- more than ``max_connections`` open in all, or ``max_connections_per_client`` from the peer's address: the
  connection is answered ``503`` problem+json ``TOO_MANY_CONNECTIONS`` with ``Retry-After`` and closed, and aiohttp
  never sees it;
- the first request head not complete (``CRLF CRLF`` received) within ``header_timeout`` seconds of the connection
  opening: ``408`` problem+json ``HEADER_TIMEOUT``, then closed. Later heads on a kept-alive connection are bounded
  by aiohttp's ``keepalive_timeout``, counted from the previous answer; partial bytes do not extend it.

On the mutual-TLS listener asyncio hands a connection over once its TLS handshake is complete: the handshake
itself must complete within ``header_timeout`` (``ssl_handshake_timeout``), and the caps count from then on.

A refused connection is half-closed after the answer and given ``LINGER`` seconds to read it (closing a socket with
unread input sends a reset, which would destroy the answer before the client reads it). The admission decision
(:meth:`ConnectionGuard.admit`) is plain code over counts; only :class:`GuardedProtocol` touches a transport.
Every refusal is counted in ``tongban_edge_refusals_total{reason}`` and the open connections in
``tongban_open_connections``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.config import ServerSettings
from gateway.errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE

__all__ = ["EDGE_REASONS", "ConnectionGuard", "EdgeCounters", "EdgeLimits", "GuardedProtocol", "GuardedSite"]

log = logging.getLogger("gateway.server.edge")
LOG_EVERY = 60.0  # seconds between two log lines about the same kind of connection refusal (a flood is one line)
LINGER = 1.0  # seconds a refused connection may take to read its answer before it is closed
TOO_MANY = "too_many_connections"
TOO_MANY_FROM_CLIENT = "too_many_connections_from_client"
HEADER_TIMEOUT = "header_timeout"
MALFORMED_HTTP = "malformed_http"
EDGE_REASONS = (TOO_MANY, TOO_MANY_FROM_CLIENT, HEADER_TIMEOUT, MALFORMED_HTTP)


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The bounds every listener holds (``[server]``; defaults in :class:`gateway.config.ServerSettings`)."""

    header_timeout: float
    max_connections: int
    max_connections_per_client: int

    @classmethod
    def of(cls, server: ServerSettings) -> EdgeLimits:
        return cls(server.header_timeout, server.max_connections, server.max_connections_per_client)


class EdgeCounters:
    """The edge's metrics on the gateway's registry: refusals by a closed set of reasons, and open connections.

    A connection refusal is also logged, as one WARNING line per reason at most every ``LOG_EVERY`` seconds with
    the number refused since the last line: a flood of connections must not become a flood of log lines.
    """

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.unlogged: Tally[str] = Tally()
        self.logged_at: dict[str, float] = {}
        self.refusals = Counter(
            "tongban_edge_refusals",
            "Connections and requests refused at the listener, by reason",
            ["reason"],
            registry=registry,
        )
        self.open = Gauge(
            "tongban_open_connections",
            "Client connections open on the gateway's listeners",
            registry=registry,
            multiprocess_mode="livesum",  # serve --workers: the connections of every worker alive
        )
        for reason in EDGE_REASONS:
            self.refusals.labels(reason=reason)

    def refuse(self, reason: str) -> None:
        reason = reason if reason in EDGE_REASONS else MALFORMED_HTTP
        self.refusals.labels(reason=reason).inc()
        if reason == MALFORMED_HTTP:
            return  # logged once per request by malformed.EdgeLogger, as issue 11 item 11 asks
        self.unlogged[reason] += 1
        now = self.clock()
        last = self.logged_at.get(reason)
        if last is None or now - last >= LOG_EVERY:
            log.warning("connections refused at the listener: %d %s", self.unlogged.pop(reason), reason)
            self.logged_at[reason] = now


def _answer(status: int, reason: str, code: str, detail: str, extra: str = "") -> bytes:
    """A complete HTTP/1.1 problem+json answer that closes the connection (written before any request is read)."""
    body = json.dumps(
        {"type": PROBLEM_TYPE_BASE + code, "title": reason, "status": status, "code": code, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """Counts open connections per listener set and decides who may open one more; shared by all listeners."""

    def __init__(self, limits: EdgeLimits, counters: EdgeCounters) -> None:
        self.limits = limits
        self.counters = counters
        self.open = 0
        self.by_client: Tally[str] = Tally()
        self.too_many = _answer(
            503,
            "Service Unavailable",
            "TOO_MANY_CONNECTIONS",
            "too many connections are open; retry later",
            "Retry-After: 1\r\n",
        )
        self.too_slow = _answer(
            408,
            "Request Timeout",
            "HEADER_TIMEOUT",
            f"the request head did not arrive within {limits.header_timeout:g} s",
        )

    def admit(self, client: str) -> str | None:
        """Take a connection slot for ``client``; None when admitted, else the refusal's reason."""
        if self.open >= self.limits.max_connections:
            return TOO_MANY
        if self.by_client[client] >= self.limits.max_connections_per_client:
            return TOO_MANY_FROM_CLIENT
        self.open += 1
        self.by_client[client] += 1
        self.counters.open.set(self.open)
        return None

    def release(self, client: str) -> None:
        self.open -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]
        self.counters.open.set(self.open)

    def wrap(self, inner: Callable[[], asyncio.BaseProtocol]) -> Callable[[], GuardedProtocol]:
        """The protocol factory a listener serves: each connection guarded, then handed to ``inner``'s protocol."""
        return lambda: GuardedProtocol(self, inner)


class GuardedProtocol(asyncio.Protocol):
    """One connection: admitted or refused, its first head timed, everything else passed to aiohttp unchanged."""

    def __init__(self, guard: ConnectionGuard, inner_factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self.guard = guard
        self.inner_factory = inner_factory
        self.inner: Any = None  # aiohttp's RequestHandler once admitted
        self.refused = False  # answered by the guard: input is read and dropped until the connection closes
        self.transport: asyncio.Transport | None = None
        self.client: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tail = b""  # the last 3 bytes seen while the first head is incomplete (CRLF CRLF may straddle reads)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        reason = self.guard.admit(client)
        if reason is not None:
            self._refuse(reason, self.guard.too_many)
            return
        self.client = client
        self.timer = asyncio.get_running_loop().call_later(self.guard.limits.header_timeout, self._head_too_slow)
        self.inner = self.inner_factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.refused or self.inner is None:
            return
        if self.timer is not None:
            seen = self.tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:  # a lenient parser may take bare LF line ends
                self.timer.cancel()
                self.timer = None
                self.tail = b""
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.refused or self.inner is None:
            return None  # the transport closes itself
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.client is not None:
            self.guard.release(self.client)
            self.client = None
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def _head_too_slow(self) -> None:
        self.timer = None
        self._refuse(HEADER_TIMEOUT, self.guard.too_slow)  # aiohttp's handler, still waiting, hears of the close

    def _refuse(self, reason: str, answer: bytes) -> None:
        self.refused = True
        self.guard.counters.refuse(reason)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(answer)
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER, transport.close)
        else:
            transport.close()  # TLS: close_notify after the answer


class GuardedSite(web.BaseSite):
    """A TCP listener (plain or TLS) whose connections pass through ``guard`` (``web.TCPSite`` otherwise)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        guard: ConnectionGuard,
        host: str,
        port: int,
        *,
        ssl_context: Any = None,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.reuse_port = reuse_port  # several worker processes on one port (workers.py)
        self.guard = guard
        self.host = host
        self.port = port

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        if server is None:
            raise RuntimeError("the runner is not set up")
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.wrap(server),
            self.host,
            self.port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            ssl_handshake_timeout=self.guard.limits.header_timeout if self._ssl_context else None,
        )
