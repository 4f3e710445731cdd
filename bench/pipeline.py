"""The durable pipeline under load: intake (signed anhui→g60 case submissions) and outbox drain, each beside a
bare aiohttp baseline measured in the same run, on SQLite and on PostgreSQL.

Run: ``.venv/bin/python bench/pipeline.py [--requests 4000] [--concurrency 32] [--store sqlite,postgres]
[--loop auto|asyncio|uvloop] [--intake-only] [--profile DIR]``. Takes about a minute per store.

Processes: the gateway (``python -m gateway.cli serve``), the g60 simulator (``gateway simulate g60``) and the bare
baseline server are subprocesses; this process is the load generator. Every request is signed as the hefei
platform would sign it (anhui Client, the platform side of the dev link) BEFORE the timed phase, and sent by a
minimal HTTP/1.1 keep-alive client over asyncio streams, so the load generator costs far less than the servers it
measures (an aiohttp client would cap the baseline at ~4,000 requests/s on this machine).

1. Intake: the g60 simulator is not up yet, so the gateway only accepts (its worker's breaker opens after a few
   refused connections; it still probes once per 500 ms cool-down, signing the message each time, which py-spy
   put at ~6 % of the gateway's samples: charged to intake by this measure). Closed loop at ``--concurrency``:
   requests/s, p50, p99. Then an open loop paced at half that rate: p50 and p99 latency measured from each request's
   scheduled start. The same closed loop against a bare aiohttp server answering the same POST is the baseline; the
   ratio is printed.
2. Drain: the simulator starts; the gateway's worker delivers the backlog accepted in 1 (each message rendered and
   signed afresh, g60 XMLDSig over mutual TLS). Messages/s from the first delivery to the last, beside a bare aiohttp
   client posting pre-signed bodies of the same kind to the same simulator with the same concurrency.

``--profile DIR`` runs the gateway under cProfile and writes DIR/gateway-<store>.prof (stopped with SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
import tomllib
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import tomli_w  # noqa: E402
from aiohttp import web  # noqa: E402

from adapters.anhui import scheme as anhui_wire  # noqa: E402
from adapters.g60 import scheme as g60_wire  # noqa: E402
from adapters.wire import HttpRequest  # noqa: E402
from gateway.config import DEFAULT_CONFIG, Config, parse_config  # noqa: E402
from gateway.links import dev_link_settings  # noqa: E402
from gateway.msglog import SM4_GCM, AtRestKey, AtRestKeys, NewEntry  # noqa: E402
from gateway.msglog._base import LogSettings  # noqa: E402
from gateway.msglog.sqlite import SQLiteMessageLog  # noqa: E402
from gateway.store import open_store  # noqa: E402
from gateway.store._sqlite_worker import SQLiteWorker, wal_connector  # noqa: E402
from gateway.transport import FakeTransport  # noqa: E402
from gateway.wire.registry import load_platform_link, platform_client  # noqa: E402
from signing.devpki import generate_ed25519  # noqa: E402
from signing.keys import SigningKey  # noqa: E402
from signing.sm import Sm4Gcm, sm4_gcm_encrypt  # noqa: E402
from signing.xmldsig import sign_enveloped, verify_enveloped  # noqa: E402

SAMPLE = Path(REPO / "tests" / "data" / "platforms" / "samples" / "anhui" / "case" / "SC001.json")  # 苏州 → g60
PER_DESTINATION = 8
PG_DSNS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


# --- configuration ------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_config(work: Path, store_url: str, gateway_port: int, sim_port_base: int) -> tuple[Path, Config]:
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = store_url
    data["dev"]["credentials"] = str(work / "dev")
    data["admin"]["token_file"] = str(work / "dev" / "admin-token")
    data["server"]["port"] = gateway_port
    data["server"]["tls_port"] = free_port()  # not the default 8443: another run (or a gateway) may hold it
    order = list(data["platforms"])
    for pid in order:  # `gateway simulate` puts platform i at port_base + i
        tls = pid in ("g60", "yrd-map")
        port = sim_port_base + order.index(pid)
        data["platforms"][pid]["base_url"] = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    for entry in data["platforms"].values():
        entry["rate_limit"] = 1_000_000  # the documented 50/s per paas id would be all we measured
    data["delivery"].update({"base_delay": "100ms", "max_delay": "500ms"})
    data["delivery"]["breaker"] = {"cool_down": "500ms"}
    data["delivery"]["worker"] = {"batch": 256, "per_destination": PER_DESTINATION, "poll_interval": 0.1}
    path = work / "gateway.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path, parse_config(data, str(path), work)


# --- pre-signed requests ------------------------------------------------------------------------------------------
class _Captured(Exception):
    def __init__(self, request: HttpRequest) -> None:
        self.request = request


async def _capture(request: HttpRequest) -> Any:
    raise _Captured(request)


async def signed_requests(
    config: Config, sender: str, url: str, record_type: str, records: list[Any], *, gateway_side: bool = False
) -> list[HttpRequest]:
    """Requests exactly as ``sender``'s client would send them (signed now), captured instead of sent."""
    registry = config.registry
    platform = registry.platforms[sender]
    gw_sides, pf_sides = dev_link_settings(config.dev_credentials, registry)  # type: ignore[arg-type]
    side = (gw_sides if gateway_side else pf_sides)[sender]
    link = load_platform_link(platform, side.settings, side.base)
    client = platform_client(registry, platform, link, FakeTransport(_capture), time.time, url)
    out = []
    for record in records:
        try:
            await client.submit(record_type, record, str(uuid.uuid4()))
        except _Captured as got:
            out.append(got.request)
    return out


def raw_bytes(request: HttpRequest) -> tuple[str, bytes]:
    """(host:port, the HTTP/1.1 request bytes) for the raw load generator."""
    parts = request.url.split("/", 3)
    host, path = parts[2], "/" + parts[3]
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(request.body)}"]
    head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    return host, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body


# --- the raw load generator ---------------------------------------------------------------------------------------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str) -> Conn:
        name, port = host.rsplit(":", 1)
        return cls(*await asyncio.open_connection(name, int(port)))

    async def call(self, data: bytes) -> int:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def closed_loop(host: str, payloads: list[bytes], concurrency: int) -> dict[str, float]:
    queue = iter(payloads)
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        conn = await Conn.open(host)
        for data in queue:
            t = time.perf_counter()
            if await conn.call(data) != 200:
                errors += 1
            latencies.append(time.perf_counter() - t)
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return summarise(latencies, time.perf_counter() - start, errors)


async def open_loop(host: str, payloads: list[bytes], rate: float, connections: int) -> dict[str, float]:
    """Paced at ``rate``; latency from each request's scheduled start (no coordinated omission)."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Conn.open(host))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(i: int, data: bytes) -> None:
        nonlocal errors
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await pool.get()
        if await conn.call(data) != 200:
            errors += 1
        latencies.append(time.perf_counter() - due)
        pool.put_nowait(conn)

    await asyncio.gather(*(one(i, d) for i, d in enumerate(payloads)))
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return summarise(latencies, elapsed, errors)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time a process (or one of its threads) has used so far (Linux /proc): a cost that other
    load does not inflate."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (``serve --workers`` forks its workers from the process we started)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def tree_cpu_seconds(pids: list[int], *, loop_thread_only: bool = False) -> float:
    """CPU of the processes ``pids``; with ``loop_thread_only``, of each one's main thread alone (the thread whose id
    is the process id runs the event loop; the others are the SQLite writers and the resolver pool)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid, pid if loop_thread_only else None)
    return total


async def measured(pid: int, run: Any) -> dict[str, float]:
    """``run``'s figures plus the server's CPU microseconds per request (the process and its workers, if any), and
    how much of it the event-loop threads spent (the rest is the writer threads')."""
    pids = process_tree(pid)
    before, loop_before = tree_cpu_seconds(pids), tree_cpu_seconds(pids, loop_thread_only=True)
    result: dict[str, float] = await run
    n = max(result["n"], 1)
    result["cpu_us"] = 1e6 * (tree_cpu_seconds(pids) - before) / n
    result["loop_cpu_us"] = 1e6 * (tree_cpu_seconds(pids, loop_thread_only=True) - loop_before) / n
    return result


# --- the mandatory work of one intake, each primitive alone, in this process (issue 15 item 1) --------------------
def _own_cpu() -> float:
    """This process's user + system CPU seconds, from the OS (getrusage), not wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_call_us(work: Any, calls: int) -> float:
    work()  # warm
    before = _own_cpu()
    for _ in range(calls):
        work()
    return 1e6 * (_own_cpu() - before) / calls


def grouped_commit_row_us(folder: Path, body: bytes, group: int, groups: int = 60) -> float:
    """One row of a grouped SQLite commit (WAL, synchronous=FULL, as the store): CPU of a group / its size."""
    path = folder / f"group-{uuid.uuid4().hex[:8]}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE rows (id TEXT PRIMARY KEY, body BLOB NOT NULL)")

    def one_group() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO rows VALUES (?, ?)", [(uuid.uuid4().hex, body) for _ in range(group)])
        conn.execute("COMMIT")

    try:
        return cpu_per_call_us(one_group, groups) / group
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{path}{suffix}").unlink()


def mandatory_intake(
    config: Config, request: HttpRequest, bare_cpu_us: float, group: int, folder: Path, calls: int = 2000
) -> dict[str, float]:
    """CPU µs of each primitive every anhui submission needs before its durable write, measured alone: the bare
    aiohttp handler (the baseline server's CPU per POST of the same bytes, measured in the same run), ES256 verify
    of the request's detached JWS and ES256 signature of the answer (the gateway's own anhui functions over
    cryptography), JSON decode of the body, SM4-GCM of the body (the message log's cipher) and one row of a grouped
    SQLite commit at ``group`` rows (the closed loop's concurrency bounds the group the gateway can reach)."""
    gw_sides, _ = dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    side = gw_sides["hefei"]
    link = load_platform_link(config.registry.platforms["hefei"], side.settings, side.base)
    headers = {k.lower(): v for k, v in request.headers.items()}
    body, jws = request.body, headers[anhui_wire.H_JWS]
    answer = anhui_wire.render_answer({"receiptNo": "TB" + "0" * 30, "projid": None})
    key = os.urandom(16)
    parts = {
        "aiohttp": bare_cpu_us,
        "es256_verify": cpu_per_call_us(lambda: anhui_wire.verify_body(jws, body, link.peer_jws_keys), calls),
        "es256_sign": cpu_per_call_us(lambda: anhui_wire.sign_body(answer, link.jws_key), calls),
        "json_decode": cpu_per_call_us(lambda: json.loads(body), calls * 5),
        "sm4_gcm": cpu_per_call_us(lambda: sm4_gcm_encrypt(key, body), calls),
        "commit_row": grouped_commit_row_us(folder, body, group),
    }
    parts["total"] = sum(parts.values())
    return parts


def summarise(latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "errors": errors,
        "n": len(ordered),
    }


# --- processes ----------------------------------------------------------------------------------------------------
async def spawn(*args: str, log: Path, profile: Path | None = None) -> asyncio.subprocess.Process:
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    with log.open("ab") as fh:
        return await asyncio.create_subprocess_exec(
            sys.executable, *prefix, *args, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=fh
        )


async def wait_port(port: int, proc: asyncio.subprocess.Process, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        if proc.returncode is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start (exit status {proc.returncode})")
        await asyncio.sleep(0.05)


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def baseline_server(port: int) -> None:
    """A bare aiohttp server answering the anhui submit POST with a small JSON receipt."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"code": "0", "msg": "ok", "data": {"receiptNo": "TB0", "projid": None}})

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- one store ----------------------------------------------------------------------------------------------------
async def outbox_left(store_url: str) -> int:
    store = await open_store(store_url)
    try:
        stats = (await store.outbox_stats(time.time())).get("g60")
        return 0 if stats is None else stats.pending + stats.delivering
    finally:
        await store.close()


async def run_store(name: str, store_url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    gw_port, g60_port = free_port(), free_port()
    sim_base = g60_port - 2  # `gateway simulate` puts the registry's third platform (g60) at port_base + 2
    config_file, config = bench_config(work, store_url, gw_port, sim_base)
    if list(config.registry.platforms).index("g60") != 2:
        raise SystemExit("the default registry no longer lists g60 third; adjust sim_base")
    dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    log = work / f"{name}.log"
    profile = None
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        profile = args.profile / f"gateway-{name}.prof"
    gateway = await spawn(
        "-m", "gateway.cli", "--config", str(config_file), "serve", "--loop", args.loop, log=log, profile=profile
    )
    await wait_port(gw_port, gateway, "the gateway")
    base = config.registry.adapter("anhui").decode("case", SAMPLE.read_bytes())
    n, warm = args.requests, 300
    total = warm + n + n // 2
    versions = range(args.version_base, args.version_base + total)
    requests = await signed_requests(
        config,
        "hefei",
        f"http://127.0.0.1:{gw_port}/partners/hefei",
        "case",
        [replace(base, version=v) for v in versions],
    )
    host, _ = raw_bytes(requests[0])
    payloads = [raw_bytes(r)[1] for r in requests]
    await closed_loop(host, payloads[:warm], args.concurrency)
    peak = await measured(gateway.pid, closed_loop(host, payloads[warm : warm + n], args.concurrency))
    half = await open_loop(host, payloads[warm + n :], peak["rps"] / 2, args.concurrency * 2)

    b_port = free_port()
    bare = await spawn(str(Path(__file__)), "--baseline-server", str(b_port), log=log)
    await wait_port(b_port, bare, "the baseline server")
    b_payloads = [raw_bytes(replace(r, url=r.url.replace(f":{gw_port}/", f":{b_port}/")))[1] for r in requests]
    await closed_loop(f"127.0.0.1:{b_port}", b_payloads[:warm], args.concurrency)
    baseline = await measured(
        bare.pid, closed_loop(f"127.0.0.1:{b_port}", b_payloads[warm : warm + n], args.concurrency)
    )
    await stop(bare)
    floor = await floor_intake(config_file, work, requests, warm, n, gw_port, args.concurrency, log)
    mandatory = await asyncio.to_thread(
        mandatory_intake, config, requests[0], baseline["cpu_us"], args.concurrency, work
    )

    backlog = await outbox_left(store_url)
    figures = {
        "store": name,
        "intake": peak,
        "half_load": half,
        "baseline": baseline,
        "floor": floor,
        "mandatory": mandatory,
    }
    if args.intake_only:
        await stop(gateway, signal.SIGINT if profile else signal.SIGTERM)
        figures["workers"] = await workers_intake(name, work, args, base, 2)
        return {**figures, "drain": None}
    sim = await spawn(
        "-m", "gateway.cli", "--config", str(config_file), "simulate", "g60", "--port-base", str(sim_base), log=log
    )
    cpu_before = cpu_seconds(gateway.pid)  # the gateway only delivers from here on (intake is over)
    await wait_port(g60_port, sim, "the g60 simulator")
    first = last = None
    while True:
        left = await outbox_left(store_url)
        now = time.perf_counter()
        if first is None and left < backlog:
            first, at_first = now, left
        if left == 0:
            last = now
            break
        await asyncio.sleep(0.05)
    drain_rate = (at_first if first is not None else backlog) / max(last - (first or last), 1e-3)
    drain_cpu_us = 1e6 * (cpu_seconds(gateway.pid) - cpu_before) / max(backlog, 1)
    await stop(gateway, signal.SIGINT if profile else signal.SIGTERM)

    # the same kind of deliveries by a bare aiohttp client: bodies signed beforehand by the gateway's g60 client
    g60_url = config.registry.platforms["g60"].settings["base_url"]
    bodies = await signed_requests(
        config,
        "g60",
        str(g60_url),
        "case",
        [replace(base, version=v + total) for v in versions[:backlog]],
        gateway_side=True,
    )
    bare = await bare_client_rate(bodies)
    floor_bodies = await signed_requests(
        config,
        "g60",
        str(g60_url),
        "case",
        [replace(base, version=v + total + backlog) for v in versions[:backlog]],
        gateway_side=True,
    )
    drain_floor = await floor_drain(config, floor_bodies, work)
    log_bodies = await signed_requests(
        config,
        "g60",
        str(g60_url),
        "case",
        [replace(base, version=v + total + 2 * backlog) for v in versions[:backlog]],
        gateway_side=True,
    )
    drain_floor_log = await floor_drain(config, log_bodies, work, with_log=True)
    await stop(sim)
    drain_mandatory = await asyncio.to_thread(mandatory_drain, config, bodies[0], bare["answer"], bare["cpu_us"])
    figures["workers"] = await workers_intake(name, work, args, base, 2)
    return {
        **figures,
        "drain": {"messages": backlog, "rate": drain_rate, "cpu_us": drain_cpu_us},
        "drain_baseline": {"rate": bare["rate"], "cpu_us": bare["cpu_us"]},
        "drain_floor": drain_floor,
        "drain_floor_log": drain_floor_log,
        "drain_mandatory": drain_mandatory,
    }


async def floor_intake(
    config_file: Path,
    work: Path,
    requests: list[HttpRequest],
    warm: int,
    n: int,
    gw_port: int,
    concurrency: int,
    log: Path,
) -> dict[str, float]:
    """The same closed loop on the same signed requests against ``bench/intake_floor.py``: a handler doing the
    mandatory work alone (verify, decode, seal, one row through the gateway's SQLite writer thread, sign)."""
    port = free_port()
    floor = await spawn(
        str(Path(__file__).with_name("intake_floor.py")),
        str(port),
        str(config_file),
        str(work / f"floor-{uuid.uuid4().hex[:8]}.db"),
        log=log,
    )
    try:
        await wait_port(port, floor, "the intake floor server")
        payloads = [raw_bytes(replace(r, url=r.url.replace(f":{gw_port}/", f":{port}/")))[1] for r in requests]
        await closed_loop(f"127.0.0.1:{port}", payloads[:warm], concurrency)
        return await measured(floor.pid, closed_loop(f"127.0.0.1:{port}", payloads[warm : warm + n], concurrency))
    finally:
        await stop(floor)


async def fresh_store_url(name: str, work: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{work / f'gateway-{uuid.uuid4().hex[:8]}.db'}"
    dsn = await asyncio.to_thread(pg_dsn)
    if dsn is None:
        raise SystemExit("PostgreSQL went away during the run")
    return f"{dsn}?schema=bench_{uuid.uuid4().hex[:12]}"


async def workers_intake(name: str, work: Path, args: argparse.Namespace, base: Any, count: int) -> dict[str, float]:
    """The same closed loop against ``gateway serve --workers count`` on a fresh store (the g60 simulator down, so
    the workers only accept); CPU summed over the parent and its workers."""
    store_url = await fresh_store_url(name, work)
    gw_port = free_port()
    folder = work / f"workers-{count}-{name}"
    folder.mkdir(exist_ok=True)
    (folder / "dev").symlink_to(work / "dev")  # the same development credentials
    config_file, config = bench_config(folder, store_url, gw_port, free_port())
    log = work / f"{name}-workers.log"
    gateway = await spawn(
        "-m",
        "gateway.cli",
        "--config",
        str(config_file),
        "serve",
        "--workers",
        str(count),
        "--loop",
        args.loop,
        log=log,
    )
    await wait_port(gw_port, gateway, "the gateway workers")
    deadline = time.monotonic() + 60
    while len(process_tree(gateway.pid)) < count + 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # every worker listening (each opens its store and binds after forking)
    n, warm = args.requests, 300
    versions = range(args.version_base, args.version_base + warm + n)
    requests = await signed_requests(
        config,
        "hefei",
        f"http://127.0.0.1:{gw_port}/partners/hefei",
        "case",
        [replace(base, version=v) for v in versions],
    )
    host, _ = raw_bytes(requests[0])
    payloads = [raw_bytes(r)[1] for r in requests]
    await closed_loop(host, payloads[:warm], args.concurrency)
    result = await measured(gateway.pid, closed_loop(host, payloads[warm:], args.concurrency))
    await stop(gateway)
    result["workers"] = count
    return result


async def bare_client_rate(requests: list[HttpRequest]) -> dict[str, Any]:
    """Pre-signed bodies posted by an aiohttp client on kept-alive TLS connections: the rate, this process's CPU
    per request (the client side of a TLS request, from the OS) and one answer (a signed receipt) to verify."""
    queue = iter(requests)
    answers: list[bytes] = []
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=32)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> None:
            for r in queue:
                async with http.post(r.url, data=r.body, headers=dict(r.headers), ssl=r.tls) as resp:
                    body = await resp.read()
                    if not answers and resp.status == 200:
                        answers.append(body)

        return {**await _senders(one, len(requests)), "answer": answers[0] if answers else b""}


async def _senders(one: Any, count: int) -> dict[str, float]:
    """``PER_DESTINATION`` copies of ``one`` sending ``count`` messages between them, as the gateway's worker sends to
    one destination: the rate and this process's CPU per message (from the OS)."""
    start, cpu = time.perf_counter(), _own_cpu()
    await asyncio.gather(*(one() for _ in range(PER_DESTINATION)))
    return {"rate": count / (time.perf_counter() - start), "cpu_us": 1e6 * (_own_cpu() - cpu) / max(count, 1)}


async def floor_drain(
    config: Config, requests: list[HttpRequest], work: Path, *, with_log: bool = False
) -> dict[str, float]:
    """The drain floor: the same kind of messages sent as the bare client sends them, but with each delivery's
    mandatory work done for real in this process: the message XMLDSig-signed (``sign_message``), posted on a
    kept-alive TLS connection, the receipt parsed and verified, request and receipt sealed with SM4-GCM (the log's
    cipher) and the outcome written as one row through the gateway's own SQLite writer thread. Nothing else (no claim,
    no translation, no message-log chain, no retry policy, no metrics): this process model's lowest drain ratio.

    ``with_log``: request and receipt appended instead to a real SQLite message log (the gateway's, SM4-GCM, hash
    chain, group commit), each awaited as the gateway awaits it: what the two log entries of a delivery really cost
    here, against the two SM4-GCM encryptions the issue's Y counts for them."""
    gw_sides, _ = dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    side = gw_sides["g60"]
    link = load_platform_link(config.registry.platforms["g60"], side.settings, side.base)
    unsigned = []
    for r in requests:
        _, message = g60_wire.read_message(r.body)
        message.remove(message[-1])  # its signature: signed again below, as each delivery must
        unsigned.append((r, message))
    cipher = Sm4Gcm(bytes(16))  # a bench key: the cost of SM4-GCM does not depend on it
    writer = SQLiteWorker(wal_connector(str(work / f"drain-floor-{uuid.uuid4().hex[:8]}.db"), 5.0), _floor_rows)
    await writer.start()
    log = await _floor_log(work) if with_log else None
    queue = iter(unsigned)
    errors = 0
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=32)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one() -> None:
                nonlocal errors
                for r, message in queue:
                    body = g60_wire.sign_message(message, link.signer)
                    message_id = uuid.uuid4().hex
                    if log is not None:
                        await log.append(_floor_entry("out", message_id, body))
                    async with http.post(r.url, data=body, headers=dict(r.headers), ssl=r.tls) as resp:
                        answer = await resp.read()
                        errors += resp.status != 200
                    if log is not None:
                        await log.append(_floor_entry("in", message_id, answer))
                    _, receipt = g60_wire.read_message(answer)
                    verify_enveloped(receipt, link.trust, now=time.time())
                    if log is None:
                        row = (message_id, cipher.encrypt(body), cipher.encrypt(answer))
                    else:  # sealed in the log's entries
                        row = (message_id, None, None)
                    await writer.run("outcome", lambda conn, row=row: conn.execute(_FLOOR_ROW, row))

            return {**await _senders(one, len(requests)), "errors": errors}
    finally:
        await writer.stop()
        if log is not None:
            await log.close()


async def _floor_log(work: Path) -> SQLiteMessageLog:
    settings = LogSettings(
        keys=AtRestKeys.create(AtRestKey.of("bench", bytes(16), SM4_GCM)),
        signing_key=SigningKey.of("bench-seal", generate_ed25519()),
    )
    return await SQLiteMessageLog.open(work / f"floor-log-{uuid.uuid4().hex[:8]}.db", settings=settings)


def _floor_entry(direction: str, message_id: str, body: bytes) -> NewEntry:
    """The entry the gateway's RecordingTransport writes for a g60 case request or its answer."""
    return NewEntry(
        at=time.time(),
        direction=direction,
        platform="g60",
        operation="case:POST" if direction == "out" else "case:answer",
        record_type="case",
        message_id=message_id,
        idem_key="C:bench",
        message=body,
        evidence={"content-type": "application/xml; charset=GB18030"},
        case_no="bench",
    )


_FLOOR_ROW = "INSERT INTO outcomes VALUES (?, ?, ?)"


def _floor_rows(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS outcomes (id TEXT PRIMARY KEY, request BLOB, receipt BLOB)")


def mandatory_drain(
    config: Config, request: HttpRequest, answer: bytes, tls_cpu_us: float, calls: int = 300
) -> dict[str, float]:
    """CPU µs of each primitive every g60 delivery needs, measured alone (issue 15 item 1): the RSA-2048 XMLDSig
    signature of the message (the gateway's ``signing.xmldsig`` on the parsed message), the verify of the signed
    receipt (profile, chain and signature, on the parsed receipt), the client side of a TLS request on a kept-alive
    connection (aiohttp posting the same pre-signed bodies to the same simulator, in the same run) and two message-log
    entries (SM4-GCM of the request and of the receipt, the log's cipher)."""
    gw_sides, _ = dev_link_settings(config.dev_credentials, config.registry)  # type: ignore[arg-type]
    side = gw_sides["g60"]
    link = load_platform_link(config.registry.platforms["g60"], side.settings, side.base)
    _, message = g60_wire.read_message(request.body)
    message.remove(message[-1])  # the message as rendered, before its signature
    _, receipt = g60_wire.read_message(answer)
    now = time.time()
    key = os.urandom(16)
    parts = {
        "xmldsig_sign": cpu_per_call_us(
            lambda: sign_enveloped(message, link.signer.key, link.signer.cert, link.signer.intermediates), calls
        ),
        "receipt_verify": cpu_per_call_us(lambda: verify_enveloped(receipt, link.trust, now=now), calls),
        "tls_request": tls_cpu_us,
        "log_entries": cpu_per_call_us(
            lambda: (sm4_gcm_encrypt(key, request.body), sm4_gcm_encrypt(key, answer)), calls * 4
        ),
    }
    parts["total"] = sum(parts.values())
    return parts


def pg_dsn() -> str | None:
    import asyncpg  # noqa: PLC0415

    async def probe(dsn: str) -> bool:
        try:
            await (await asyncpg.connect(dsn, timeout=3)).close()
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return False
        return True

    return next((d for d in PG_DSNS if asyncio.run(probe(d))), None)


def report(result: dict[str, Any]) -> None:
    i, h, b, d, db = (result.get(k) for k in ("intake", "half_load", "baseline", "drain", "drain_baseline"))
    print(f"\n== {result['store']} ==")
    print(
        f"intake   gateway  {i['rps']:8.0f} req/s  p50 {i['p50_ms']:6.1f} ms  p99 {i['p99_ms']:6.1f} ms"
        f"  cpu {i['cpu_us']:6.0f} us/req  errors {i['errors']}"
    )
    print(
        f"intake   baseline {b['rps']:8.0f} req/s  p50 {b['p50_ms']:6.1f} ms  p99 {b['p99_ms']:6.1f} ms"
        f"  cpu {b['cpu_us']:6.0f} us/req"
    )
    print(
        f"intake   ratio    {i['rps'] / b['rps']:8.2f}   (goal >= 0.35; by CPU per request "
        f"{b['cpu_us'] / i['cpu_us']:.2f})"
    )
    print(
        f"half load {h['rps']:7.0f} req/s  p50 {h['p50_ms']:6.1f} ms  p99 {h['p99_ms']:6.1f} ms  (goal p99 < 25 ms)"
        f"  errors {h['errors']}"
    )
    m = result["mandatory"]
    ratio = i["cpu_us"] / m["total"]
    print(
        f"intake: {i['cpu_us']:.0f} us CPU/request, mandatory {m['total']:.0f} us, ratio {ratio:.2f}"
        "  (goal <= 2.0 SQLite, <= 2.5 PostgreSQL)"
    )
    print("  mandatory: " + ", ".join(f"{k} {v:.1f} us" for k, v in m.items() if k != "total"))
    print(
        f"  gateway threads: event loop {i['loop_cpu_us']:.0f} us/request, "
        f"others (store and log writers) {i['cpu_us'] - i['loop_cpu_us']:.0f} us/request"
    )
    f = result["floor"]
    print(
        f"  floor: {f['cpu_us']:.0f} us CPU/request, ratio {f['cpu_us'] / m['total']:.2f} (the mandatory work alone in"
        f" one aiohttp handler with a SQLite writer thread, bench/intake_floor.py; {f['rps']:.0f} req/s,"
        f" event loop {f['loop_cpu_us']:.0f} us)  errors {f['errors']}"
    )
    wk = result.get("workers")
    if wk is not None:
        print(
            f"workers  1: {i['rps']:8.0f} req/s  cpu {i['cpu_us']:6.0f} us/req  |  {wk['workers']:.0f}: "
            f"{wk['rps']:8.0f} req/s  cpu {wk['cpu_us']:6.0f} us/req  p99 {wk['p99_ms']:6.1f} ms"
            f"  errors {wk['errors']}"
            f"  (x{wk['rps'] / i['rps']:.2f}; 2 CPUs shared with the load generator)"
        )
    if d is None or db is None:
        return
    print(f"drain    gateway  {d['rate']:8.0f} msg/s  ({d['messages']} messages)")
    print(f"drain    baseline {db['rate']:8.0f} msg/s  ratio {d['rate'] / db['rate']:.2f}  (informative)")
    dm = result["drain_mandatory"]
    print(
        f"drain: {d['cpu_us']:.0f} us CPU/delivery, mandatory {dm['total']:.0f} us, "
        f"ratio {d['cpu_us'] / dm['total']:.2f}  (goal <= 2.0)"
    )
    print("  mandatory: " + ", ".join(f"{k} {v:.1f} us" for k, v in dm.items() if k != "total"))
    df = result["drain_floor"]
    print(
        f"  floor: {df['cpu_us']:.0f} us CPU/delivery, ratio {df['cpu_us'] / dm['total']:.2f} (the mandatory work alone"
        f" around the same aiohttp client, with a SQLite writer thread; {df['rate']:.0f} msg/s)"
        f"  errors {df['errors']:.0f}"
    )
    dl = result["drain_floor_log"]
    entries = dl["cpu_us"] - df["cpu_us"]
    print(
        f"  floor with a real message log: {dl['cpu_us']:.0f} us CPU/delivery (its two entries ~{entries:.0f} us,"
        f" of which Y counts {dm['log_entries']:.0f}); drain ratio with them counted at that cost:"
        f" {d['cpu_us'] / (dm['total'] + entries):.2f}  errors {dl['errors']:.0f}"
    )


async def main(args: argparse.Namespace) -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    stores = args.store.split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        for name in stores:
            if name == "sqlite":
                url = f"sqlite:///{work / 'gateway.db'}"
            else:
                dsn = await asyncio.to_thread(pg_dsn)
                if dsn is None:
                    print("PostgreSQL: no server answers at 127.0.0.1:5432; skipped")
                    continue
                url = f"{dsn}?schema=bench_{uuid.uuid4().hex[:12]}"
            results.append(await run_store(name, url, work, args))
            report(results[-1])
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--store", default="sqlite,postgres")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--intake-only", action="store_true", help="skip the drain phase")
    parser.add_argument(
        "--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="the gateway's event loop (serve --loop)"
    )
    parser.add_argument("--version-base", type=int, default=int(time.time()) % 100000 * 100)
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.baseline_server:
        baseline_server(parsed.baseline_server)
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        asyncio.run(main(parsed))
