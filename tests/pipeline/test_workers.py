"""``gateway serve --workers 2`` (issue 15 item 4): two real worker processes on one port and one store.

A replay that reaches the other worker is refused (the nonce lives in the store), a backlog is delivered by both
workers with no message sent twice (claims in the store), ``/metrics`` shows the sum over both workers whichever
answers it (each worker's own share read from its value files), a SIGHUP while the workers start is a reload and not
a death, and SIGTERM to the parent stops every worker within the shutdown grace. Which worker answered is read from
``/metrics`` (``gateway_worker{worker="N"}``) on the same connection: the kernel spreads new connections over the
workers (``SO_REUSEPORT``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from gateway_process import REPO, GatewayProcess, spawn_gateway
from pipeline_stack import SIM_OPTIONS, config_dict, free_port, partner_client, sample, wait_for, write_config
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from adapters.wire import HttpRequest, HttpResponse
from gateway.config import parse_config
from gateway.server.workers import metrics_directory, worker_count
from gateway.simulate.run import start_simulators, stop_simulators
from gateway.transport import AiohttpTransport, FakeTransport

GRACE = 3.0
BACKLOG = 60
_WORKER = re.compile(r'^gateway_worker\{worker="(\d+)"\} 1\.0$', re.M)


def test_worker_count_is_a_number_or_the_cpus() -> None:
    assert worker_count("3") == 3
    assert worker_count("auto", cpus=lambda: 4) == 4
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match=r"worker|literal"):
            worker_count(bad)


async def start_workers(config: Path, url: str, count: int) -> GatewayProcess:
    gateway = await spawn_gateway(config, "--workers", str(count))
    proc = gateway.proc
    deadline = time.monotonic() + 60
    while gateway.log.count("Running on") < count:  # every worker listens
        if proc.returncode is not None or time.monotonic() > deadline:
            await gateway.stop()
            raise AssertionError(f"the workers did not come up (exit status {proc.returncode}):\n{gateway.log}")
        await asyncio.sleep(0.05)
    return gateway


async def on_a_new_connection(url: str, request: HttpRequest | None) -> tuple[int, HttpResponse | None, str]:
    """(the worker that answered, the answer to ``request``, its /metrics) over one fresh keep-alive connection."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        answer = None
        if request is not None:
            async with http.post(request.url, data=request.body, headers=request.headers) as resp:
                answer = HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read())
        async with http.get(f"{url}/metrics") as resp:
            text = await resp.text()
    found = _WORKER.search(text)
    assert found is not None, text[:500]
    return int(found.group(1)), answer, text


def _count(text: str, name: str, *labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _signed_once(client_config: object, url: str, case: object) -> HttpRequest:
    """One submission exactly as hefei signs it, captured instead of sent."""

    async def refuse(request: HttpRequest) -> HttpResponse:
        raise ConnectionError("captured")

    capture = FakeTransport(refuse)
    client = partner_client(client_config, "hefei", url, capture)  # type: ignore[arg-type]
    with contextlib.suppress(Exception):  # the capture stops the call; the request is kept
        await client.submit("case", case, "m-replayed")
    (request,) = capture.sent
    return request


@pytest.mark.slow
async def test_two_workers_share_replays_deliver_a_backlog_once_and_stop_on_sigterm(
    store_url: str, dev_folder: Path, tmp_path: Path, samples_dir: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    transport = AiohttpTransport()
    sims_config = parse_config(config_dict(dev_folder, store_url, {}, port), "workers test", tmp_path)
    running = await start_simulators(
        sims_config, ["g60"], port_base=None, clock=time.time, transport=transport, gateway_url=url, options=SIM_OPTIONS
    )
    running[0].plan.update({"latency_ms": 20})  # deliveries overlap, so both workers claim from one backlog
    data = config_dict(dev_folder, store_url, {"g60": running[0].url}, port, {"server": {"shutdown_grace": GRACE}})
    config_file = write_config(data, tmp_path / "gateway.toml")
    config = parse_config(data, "workers test", tmp_path)
    base = sample(config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 → g60
    book = running[0].sim.book
    gateway = await start_workers(config_file, url, 2)
    try:
        # 1. the same signed request on new connections until both workers have answered it
        request = await _signed_once(config, url, replace(base, version=BACKLOG + 1))
        answers: list[tuple[int, int, bytes]] = []
        for _ in range(200):
            worker, answer, _ = await on_a_new_connection(url, request)
            assert answer is not None
            answers.append((worker, answer.status, answer.body))
            if len({w for w, _, _ in answers}) == 2 and len(answers) >= 2:
                break
        assert len({w for w, _, _ in answers}) == 2, answers
        first, *repeats = answers
        assert first[1] == 200 and b'"code":"200"' in first[2]
        assert repeats and all(status == 401 for _, status, _ in repeats)
        assert {w for w, _, _ in repeats} != {first[0]}  # a worker that did not accept it refused it too

        # 2. a backlog accepted through both workers, delivered by both, each message sent once
        client = partner_client(config, "hefei", url, transport)
        limit = asyncio.Semaphore(16)

        async def submit(version: int) -> None:
            async with limit:
                await client.submit("case", replace(base, version=version), f"m-{version}")

        await asyncio.gather(*(submit(v) for v in range(1, BACKLOG + 1)))
        total = BACKLOG + 1
        await wait_for(lambda: len(book.snapshot("case")) == total, timeout=60, what="backlog delivered")
        await asyncio.sleep(0.5)  # a duplicate send would arrive now
        keys = Counter(r["key"] for r in book.snapshot("case"))
        assert len(keys) == total and set(keys.values()) == {1}
        assert book.calls == total  # no message was sent twice, not even to be deduplicated

        scrapes: dict[int, str] = {}
        for _ in range(200):
            worker, _, text = await on_a_new_connection(url, None)
            scrapes[worker] = text
            if len(scrapes) == 2:
                break
        assert len(scrapes) == 2, scrapes.keys()
        for text in scrapes.values():  # whichever worker answers, /metrics is the sum over both (issue 15 item 4)
            assert _count(text, "tongban_delivery_attempts_total") == total
            assert _count(text, "tongban_refusals_total", 'code="REPLAYED"') == len(repeats)
            assert _count(text, "tongban_requests_total", 'outcome="accepted"') == total
            assert _count(text, "tongban_requests_total") == total + len(repeats)
            assert text.count("\n# TYPE process_cpu_seconds_total ") == 1  # summed over the workers, once
            promtool = shutil.which("promtool")
            assert promtool is not None, "promtool is needed (Debian package 'prometheus')"
            checked = subprocess.run(
                [promtool, "check", "metrics"], input=text.encode(), capture_output=True, check=False
            )
            assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
        # each worker's own share, read from its value files: both answered requests and both delivered, and the
        # shares add up to what /metrics shows
        folder = metrics_directory(replace(config, base_dir=REPO), gateway.proc.pid)  # the workers' cwd is REPO
        workers = _children(gateway.proc.pid)
        for name in ("tongban_requests_total", "tongban_delivery_attempts_total"):
            shares = [_own_share(folder, pid, name, tmp_path) for pid in workers]
            assert len(shares) == 2 and min(shares) > 0 and sum(shares) == _count(text, name), (name, shares)

        # 3. SIGTERM to the parent: every worker stops within the grace
        started = time.monotonic()
        gateway.proc.send_signal(signal.SIGTERM)
        assert await gateway.wait(timeout=GRACE + 10) == 0
        assert time.monotonic() - started < GRACE + 2.5, gateway.log
        assert not folder.exists()  # the run's value files go with it
    finally:
        await gateway.stop()
        await stop_simulators(running)
        await transport.close()
    assert "Traceback" not in gateway.log, gateway.log


def _own_share(folder: Path, pid: int, name: str, tmp_path: Path) -> float:
    """One worker's own counter ``name``: its counter file alone, summed by prometheus_client's reader."""
    mine = tmp_path / f"share-{pid}-{name}"
    mine.mkdir()
    shutil.copy(folder / f"counter_{pid}.db", mine)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(mine))
    return _count(generate_latest(registry).decode(), name)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


@pytest.mark.slow
async def test_a_worker_that_dies_alone_stops_the_others_and_the_parent_exits_1(
    dev_folder: Path, tmp_path: Path
) -> None:
    port = free_port()
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}", {}, port, {"server": {"shutdown_grace": GRACE}})
    gateway = await start_workers(write_config(data, tmp_path / "gateway.toml"), f"http://127.0.0.1:{port}", 2)
    try:
        workers = _children(gateway.proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        assert await gateway.wait(timeout=GRACE + 10) == 1  # the supervisor restarts the whole
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)  # the other one stopped and was reaped
    finally:
        await gateway.stop()
    assert "exited on its own" in gateway.log


@pytest.mark.slow
async def test_a_sighup_while_the_workers_start_is_a_reload_not_a_death(dev_folder: Path, tmp_path: Path) -> None:
    """SIGHUP's default action ends a process; a worker handles it only once its event loop is up. SIGHUPs sent to
    the parent from the moment both workers exist until both listen must each become a reload in every worker."""
    port = free_port()
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}", {}, port, {"server": {"shutdown_grace": GRACE}})
    config_file = write_config(data, tmp_path / "gateway.toml")
    gateway = await spawn_gateway(config_file, "--workers", "2")
    proc = gateway.proc
    sent_early = 0
    try:
        deadline = time.monotonic() + 60
        while gateway.log.count("Running on") < 2:
            assert proc.returncode is None, gateway.log
            assert time.monotonic() < deadline, gateway.log
            if len(_children(proc.pid)) == 2:
                proc.send_signal(signal.SIGHUP)
                sent_early += 1
            await asyncio.sleep(0.02)
        assert sent_early > 0
        await wait_for(lambda: gateway.log.count("configuration reloaded") >= 2, timeout=10, what="the reloads")
        workers = _children(proc.pid)
        assert len(workers) == 2, gateway.log
        seen = set()
        for _ in range(200):  # both workers still answer
            worker, _, _ = await on_a_new_connection(f"http://127.0.0.1:{port}", None)
            seen.add(worker)
            if len(seen) == 2:
                break
        assert seen == {0, 1}
        proc.send_signal(signal.SIGTERM)
        assert await gateway.wait(timeout=GRACE + 10) == 0, gateway.log
    finally:
        await gateway.stop()
    assert "exited on its own" not in gateway.log and "Traceback" not in gateway.log, gateway.log


def test_workers_creating_the_admin_token_at_once_all_read_the_same_whole_token(tmp_path: Path) -> None:
    """``serve --workers`` on a fresh folder: every worker creates the admin token file at the same moment. Each must
    read one whole token, the same for all (a worker once read the file another had created but not yet written)."""
    for round_ in range(20):
        folder = tmp_path / f"var{round_}"
        with concurrent.futures.ProcessPoolExecutor(4) as pool:
            tokens = list(pool.map(_admin_token_in, [folder] * 8))
        assert len(set(tokens)) == 1 and len(tokens[0]) >= 32, tokens
        assert [p.name for p in folder.iterdir()] == ["admin-token"]  # no private file left behind


def _admin_token_in(folder: Path) -> str:
    """The admin token a gateway with the default configuration and its token file in ``folder`` reads."""
    from gateway.config import load_config
    from gateway.server.admin import ensure_admin_token

    config = replace(load_config(), admin_token_file=folder / "admin-token", admin_token_env=None)
    token = ensure_admin_token(config)
    assert token is not None
    return token.reveal()
