"""SIGTERM stops the gateway gracefully: it stops accepting, finishes in-flight requests and deliveries, commits,
stops its workers and exits 0; nothing it accepted is lost (a restart delivers whatever was still pending)."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from pipeline_stack import SIM_OPTIONS, config_dict, free_port, partner_client, sample, wait_for, write_config
from test_crash import start_gateway

from gateway.config import parse_config
from gateway.delivery import PermanentRefusal, TransientDeliveryError
from gateway.simulate.run import start_simulators, stop_simulators
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
    running = await start_simulators(sims_config, ["g60"], port_base=None, clock=time.time, transport=transport,
                                     gateway_url=url, options=SIM_OPTIONS)
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
            except (TransientDeliveryError, PermanentRefusal):
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
