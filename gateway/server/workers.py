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

Signals while starting: SIGHUP's default action ends a process, and a worker only handles it once its event loop is
up (``run.py``), a second or so after the fork. So the forwarded signals are blocked from before the first fork until
the parent's handlers are in place; a worker notes a SIGHUP that arrives before its loop handles it and sends it to
itself once the loop does (a reload asked during start-up happens, late, instead of killing the worker).

Metrics: each worker's values live in memory-mapped files under ``var/metrics/run-<parent pid>`` (the
configuration's writable ``var/``, emptied at start and removed at exit) and every worker's ``/metrics`` shows the
sum over all of them, plus ``gateway_worker{worker="N"} 1`` naming the worker that answered
(``observability/metrics.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from gateway.config import Config
from gateway.observability.metrics import WorkerRegistry, share_across_processes

__all__ = [
    "KILL_MARGIN",
    "metrics_directory",
    "parse_workers",
    "reserve_ports",
    "run_workers",
    "serve_workers",
    "worker_count",
]

KILL_MARGIN = 1.0  # seconds past the shutdown grace before a worker that has not exited is killed
_POLL = 0.05
_FORWARDED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})

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
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)  # until the handlers are in place (docstring)
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is its own process
                status = 1
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGHUP, _note_early_reload)
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    status = child(index)
                except BaseException:
                    log.exception("gateway worker %d failed", index, extra={"event": "worker_failed", "worker": index})
                finally:
                    logging.shutdown()
                    os._exit(status)
            pids[pid] = index
    except BaseException:
        _signal_all(pids, signal.SIGKILL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    return _supervise(pids, grace, mask)


_early_reload: list[bool] = []  # in a worker: a SIGHUP arrived before its event loop handled SIGHUP


def _note_early_reload(_signum: int, _frame: object) -> None:
    _early_reload.append(True)


def replay_early_reload() -> None:
    """In a worker whose event loop now handles SIGHUP: send itself the SIGHUP that arrived before (if any)."""
    if _early_reload:
        _early_reload.clear()
        os.kill(os.getpid(), signal.SIGHUP)


def _supervise(pids: dict[int, int], grace: float, mask: set[int | signal.Signals] | None = None) -> int:
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
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # what arrived while forking is handled now
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


def metrics_directory(config: Config, run: int) -> Path:
    """Where the workers of run ``run`` (the parent's pid) keep their metric values: under the configuration's
    writable ``var/`` (a volume in the container image), one folder per run so no old process's values count."""
    return config.base_dir / "var" / "metrics" / f"run-{run}"


def serve_workers(config: Config, count: int, announce: Callable[[str], None], *, loop: str = "auto") -> int:
    """Reserve the configured ports, then run ``count`` whole gateways on them (module docstring)."""
    server = config.server
    ports = [server.port]
    if server.tls_port is not None and server.tls_platform is not None:
        ports.append(server.tls_port)
    reserved = reserve_ports(server.host, ports)
    bound = [int(s.getsockname()[1]) for s in reserved]
    tls_port = bound[1] if len(bound) > 1 else server.tls_port
    config = replace(config, server=replace(server, port=bound[0], tls_port=tls_port))
    shared = metrics_directory(config, os.getpid())
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True, mode=0o700)

    def child(index: int) -> int:
        import asyncio  # noqa: PLC0415

        from .app import create_app  # noqa: PLC0415
        from .loops import loop_name, run_loop  # noqa: PLC0415
        from .run import serve_until_stopped  # noqa: PLC0415

        for sock in reserved:
            sock.close()  # the parent keeps the reservation
        identity = CollectorRegistry()
        # which worker answered a scrape (a number, never personal data); every other series is the workers' sum.
        # Made before the switch below, so this one value stays in this process, out of the shared files.
        Gauge(
            "gateway_worker",
            "the worker that answered this scrape under serve --workers",
            ["worker"],
            registry=identity,
        ).labels(str(index)).set(1)
        share_across_processes(shared)  # before any metric of the app exists

        def announced(line: str) -> None:  # run.py announces once the loop handles SIGHUP
            announce(line)
            replay_early_reload()

        async def run() -> None:
            announce(f"event loop: {loop_name(asyncio.get_running_loop())}")
            app = await create_app(config, metrics_registry=WorkerRegistry(shared, identity))
            await serve_until_stopped(app, config, announce=announced, reuse_port=True)

        run_loop(run(), loop)
        return 0

    try:
        return run_workers(count, child, server.shutdown_grace)
    finally:
        for sock in reserved:
            sock.close()
        shutil.rmtree(shared, ignore_errors=True)
