"""``gateway serve --workers N``: N gateway processes on the same ports and the same store (issue 15 item 4).

Why processes: one CPython process runs its event loop on one core (docs/performance.md), so a machine's other cores
need other processes. Everything the workers must agree on already lives in the shared store (replay nonces,
idempotency, consent jtis, the outbox claims, hunan's first answers) or needs no state at all (hunan bearer tokens
are self-contained, ``wire/hunan_tokens.py``), so a worker is simply a whole gateway instance, as a second machine
behind a balancer would be.

How: the parent binds each listening address once with ``SO_REUSEPORT`` and never listens on it: that reserves the
port (and resolves port 0) while the kernel balances new connections over the workers' own ``SO_REUSEPORT``
listeners only, by a hash of each connection's addresses. The workers are forked before any event loop or thread
exists in the parent (the randomness pool forgets its bytes in a forked child, ``randomness.py``), and each builds its
own app, store connections and delivery worker.

Stopping: SIGTERM or SIGINT to the parent is passed to every worker, each runs its own bounded shutdown
(``run.py``); a worker still alive ``KILL_MARGIN`` seconds after the grace is killed. SIGHUP is passed on (each worker
reloads). A worker that dies on its own stops the others and the parent exits 1: the supervisor (systemd,
Kubernetes) restarts the whole, rather than the parent hiding a crash loop.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from prometheus_client import CollectorRegistry, Gauge

from gateway.config import Config

__all__ = ["KILL_MARGIN", "parse_workers", "reserve_ports", "run_workers", "serve_workers", "worker_count"]

KILL_MARGIN = 1.0  # seconds past the shutdown grace before a worker that has not exited is killed
_POLL = 0.05

log = logging.getLogger("gateway.server")


def worker_count(value: str, cpus: Callable[[], int] | None = None) -> int:
    """``auto`` (the CPUs this process may run on) or a whole number ≥ 1."""
    if value == "auto":
        return max(1, (cpus or _usable_cpus)())
    count = int(value)  # ValueError for argparse's message
    if count < 1:
        raise ValueError(f"{value} is not a number of workers ≥ 1")
    return count


def parse_workers(value: str) -> int:
    """The argparse ``type`` of ``--workers``."""
    try:
        return worker_count(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not 'auto' or a whole number ≥ 1") from exc


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def reserve_ports(host: str, ports: Sequence[int]) -> list[socket.socket]:
    """One bound, non-listening ``SO_REUSEPORT`` socket per port: the port is this process group's from now on
    (port 0 is resolved here), and the kernel gives connections only to the workers' listening sockets."""
    reserved: list[socket.socket] = []
    try:
        for port in ports:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            reserved.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
    except OSError:
        for sock in reserved:
            sock.close()
        raise
    return reserved


def run_workers(count: int, child: Callable[[int], int], grace: float) -> int:
    """Fork ``count`` workers running ``child(index)`` (its return value is the worker's exit status) and supervise
    them (module docstring). Returns the parent's exit status: 0 after a requested stop, else 1."""
    pids: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is its own process
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                status = child(index)
            except BaseException:
                log.exception("gateway worker %d failed", index, extra={"event": "worker_failed", "worker": index})
            finally:
                logging.shutdown()
                os._exit(status)
        pids[pid] = index
    return _supervise(pids, grace)


def _supervise(pids: dict[int, int], grace: float) -> int:
    stopping: list[float] = []  # when the stop was asked (empty: running)
    failed = False

    def stop(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(time.monotonic())
            _signal_all(pids, signal.SIGTERM)

    def reload(_signum: int, _frame: object) -> None:
        _signal_all(pids, signal.SIGHUP)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    log.info("serving with %d worker processes", len(pids), extra={"event": "workers", "workers": len(pids)})
    try:
        while pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                if stopping and time.monotonic() > stopping[0] + grace + KILL_MARGIN:
                    log.error(
                        "%d worker(s) overran the %.1f s shutdown grace; killed",
                        len(pids),
                        grace,
                        extra={"event": "shutdown", "grace": grace},
                    )
                    _signal_all(pids, signal.SIGKILL)
                    stopping[0] = float("inf")  # killed once; now only reap
                time.sleep(_POLL)
                continue
            index = pids.pop(pid, None)
            if index is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if not stopping:
                failed = True
                log.error(
                    "gateway worker %d exited on its own (status %d); stopping the others",
                    index,
                    code,
                    extra={"event": "worker_exited", "worker": index, "status": code},
                )
                stop(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _signal_all(pids: dict[int, int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def serve_workers(config: Config, count: int, announce: Callable[[str], None]) -> int:
    """Reserve the configured ports, then run ``count`` whole gateways on them (module docstring)."""
    server = config.server
    ports = [server.port]
    if server.tls_port is not None and server.tls_platform is not None:
        ports.append(server.tls_port)
    reserved = reserve_ports(server.host, ports)
    bound = [int(s.getsockname()[1]) for s in reserved]
    tls_port = bound[1] if len(bound) > 1 else server.tls_port
    config = replace(config, server=replace(server, port=bound[0], tls_port=tls_port))

    def child(index: int) -> int:
        import asyncio  # noqa: PLC0415

        from .app import create_app  # noqa: PLC0415
        from .run import serve_until_stopped  # noqa: PLC0415

        for sock in reserved:
            sock.close()  # the parent keeps the reservation
        registry = CollectorRegistry()
        # which worker answered a scrape (a number, never personal data): each process has its own counters
        Gauge(
            "gateway_worker", "this process's worker number under serve --workers", ["worker"], registry=registry
        ).labels(str(index)).set(1)

        async def run() -> None:
            app = await create_app(config, metrics_registry=registry)
            await serve_until_stopped(app, config, announce=announce, reuse_port=True)

        asyncio.run(run())
        return 0

    try:
        return run_workers(count, child, server.shutdown_grace)
    finally:
        for sock in reserved:
            sock.close()
