"""SIGTERM stops the gateway gracefully: it stops accepting, finishes in-flight requests and deliveries, commits,
stops its workers and exits 0; nothing it accepted is lost (a restart delivers whatever was still pending)."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from gateway_process import start_gateway_process
from pipeline_stack import (
    SIM_OPTIONS,
    config_dict,
    free_port,
    partner_client,
    sample,
    wait_for,
    wait_for_async,
    write_config,
)
from test_crash import start_gateway

from gateway.config import parse_config
from gateway.delivery import TransientDeliveryError
from gateway.errors import Refusal
from gateway.pipeline.worker import NOT_SENT
from gateway.simulate.run import start_simulators, stop_simulators
from gateway.store import open_store
from gateway.store.api import OutboundMessage
from gateway.transport import AiohttpTransport


@pytest.mark.slow
async def test_sigterm_under_load_exits_cleanly_and_loses_nothing(
    dev_folder: Path, tmp_path: Path, samples_dir: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{tmp_path / 'gateway.db'}"
    transport = AiohttpTransport()
    sims_config = parse_config(config_dict(dev_folder, store, {}, port), "shutdown test", tmp_path)
    running = await start_simulators(
        sims_config, ["g60"], port_base=None, clock=time.time, transport=transport, gateway_url=url, options=SIM_OPTIONS
    )
    running[0].plan.update({"latency_ms": 30})  # deliveries are in flight when the signal comes
    data = config_dict(dev_folder, store, {"g60": running[0].url}, port)
    config_file = write_config(data, tmp_path / "gateway.toml")
    config = parse_config(data, "shutdown test", tmp_path)
    client = partner_client(config, "hefei", url, transport)
    base = sample(config, samples_dir, "anhui", "case", "SC001.json")
    book = running[0].sim.book
    receipted: set[str] = set()
    versions = iter(range(1, 1_000_000))
    streaming = True

    async def stream() -> None:
        while streaming:
            case = replace(base, version=next(versions))
            try:
                await client.submit("case", case, f"m-{case.version}")
                receipted.add(f"case:{case.case_no}:{case.version}")
            except (TransientDeliveryError, Refusal):
                await asyncio.sleep(0.02)  # refused while stopping: no receipt, nothing promised

    log = (tmp_path / "gateway.log").open("wb")
    proc = await start_gateway(config_file, url, log)
    try:
        clients = [asyncio.create_task(stream()) for _ in range(6)]
        await asyncio.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        exit_status = await asyncio.wait_for(proc.wait(), timeout=60)
        streaming = False
        await asyncio.gather(*clients)
        assert exit_status == 0
        assert receipted
        proc = await start_gateway(config_file, url, log)  # the restart delivers whatever was still pending
        await wait_for(lambda: receipted <= set(book.receipts), timeout=30, what="every receipt delivered")
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()
        await stop_simulators(running)
        await transport.close()
    text = (tmp_path / "gateway.log").read_bytes().decode("utf-8", "replace")
    assert "Traceback" not in text
    received = [r["key"] for r in book.snapshot("case")]
    assert len(received) == len(set(received))  # each accepted record took effect once


GRACE = 4.0
#: process exit and interpreter teardown after the grace (the gateway itself is done by then, as it logs): generous,
#: because the suite runs in parallel and a loaded machine slows the exit (7.8 s seen against 6.5 s); the gateway's
#: own stop is held to the grace from its log, and the hanging sends outlast grace + margin, so waiting for them fails
EXIT_MARGIN = 5.0
#: a little scheduling slack on the gateway's own account of its stop ("stopped in 4.0 s" is within the grace)
STOP_SLACK = 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("destination", "backend"),
    [
        ("huainan", "sqlite"),  # anhui: sends hang in the platform
        ("changsha", "sqlite"),  # hunan: the token fetch hangs holding the client's lock; deliveries queue behind
        pytest.param("changsha", "postgres", marks=pytest.mark.postgres),
    ],
)
async def test_sigterm_against_a_hanging_platform_exits_within_the_grace_and_hands_claims_back(
    destination: str,
    backend: str,
    dev_folder: Path,
    tmp_path: Path,
    samples_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Sends that outlive the grace are cancelled, their claims handed back at once (not after the 120 s lease), the
    process exits inside the grace, and the next instance delivers each message once."""
    store = f"sqlite:///{tmp_path / 'gateway.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    transport = AiohttpTransport()
    route = {
        "routes": [{"record_types": ["case"], "regions": ["320500"], "destinations": [destination]}],
        "server": {"shutdown_grace": GRACE},
    }
    sims_config = parse_config(config_dict(dev_folder, store, {}, port, route), "shutdown test", tmp_path)
    running = await start_simulators(
        sims_config,
        [destination],
        port_base=None,
        clock=time.time,
        transport=transport,
        gateway_url=url,
        options=SIM_OPTIONS,
    )
    data = config_dict(dev_folder, store, {destination: running[0].url}, port, route)
    config_file = write_config(data, tmp_path / "gateway.toml")
    config = parse_config(data, "shutdown test", tmp_path)
    client = partner_client(config, "hefei", url, transport)
    base = sample(config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500: routed to ``destination``
    book = running[0].sim.book
    # the platform hangs: no answer within the grace (nor within grace + margin); not for ever, so that the
    # simulator's own stop does not wait out its handlers
    running[0].plan.update({"latency_ms": (GRACE + EXIT_MARGIN + 4) * 1000})
    gateway = await start_gateway_process(config_file, url)
    try:
        for version in (1, 2, 3):
            await client.submit("case", replace(base, version=version), f"m-{version}")

        async def all_claimed() -> bool:
            return len(await _messages(store, "delivering")) == 3

        await wait_for_async(all_claimed, timeout=10, what="the three deliveries in flight")
        started = time.monotonic()
        gateway.proc.send_signal(signal.SIGTERM)
        status = await gateway.wait(timeout=GRACE + 30)
        elapsed = time.monotonic() - started
        assert status == 0, gateway.log
        assert elapsed < GRACE + EXIT_MARGIN, f"exit took {elapsed:.1f} s against a {GRACE} s grace"
        stopped_in = [float(s) for s in re.findall(r"stopped in ([0-9.]+) s", gateway.log)]
        assert len(stopped_in) == 1 and stopped_in[0] <= GRACE + STOP_SLACK, gateway.log
        released = await _messages(store, "pending")
        assert len(released) == 3  # handed back, no lease left to wait out
        assert all(m.lease_owner is None and m.last_error_code == NOT_SENT for m in released)
        assert "Traceback" not in gateway.log

        running[0].plan.update({"latency_ms": 0})  # the platform is back
        gateway = await start_gateway_process(config_file, url)
        await wait_for(lambda: len(book.snapshot("case")) == 3, timeout=10, what="the next instance delivering")
    finally:
        await gateway.stop()
        await stop_simulators(running)
        await transport.close()
    keys = [r["key"] for r in book.snapshot("case")]
    assert len(keys) == len(set(keys)) == 3  # each case took effect once (the receiver deduplicates repeats)


async def _messages(store_url: str, state: str) -> list[OutboundMessage]:
    store = await open_store(store_url)
    try:
        return await store.list_messages(state=state)
    finally:
        await store.close()
