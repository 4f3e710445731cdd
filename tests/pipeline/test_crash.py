"""A gateway process killed with SIGKILL at random moments loses nothing it gave a receipt for.

The gateway runs as ``python -m gateway.cli serve`` on a SQLite file; the simulators and a stream of signed hefei
submissions (distinct case_no/version) run in the test process. The gateway is killed 4 times at random moments and
restarted on the same file. Afterwards (gateway up, outbox drained): every submission that got a receipt is in the
g60 simulator's book exactly once; a submission without a receipt is there at most once; and the counts add up:
every accepted submission (an outbox message) is delivered, none pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pipeline_stack import (
    REPO,
    SIM_OPTIONS,
    config_dict,
    free_port,
    partner_client,
    sample,
    wait_for,
    write_config,
)

from gateway.config import parse_config
from gateway.delivery import TransientDeliveryError
from gateway.errors import Refusal
from gateway.simulate.run import start_simulators, stop_simulators
from gateway.transport import AiohttpTransport

KILLS = 4
#: receipts each gateway instance gives before it may be killed: KILLS x PER_LIFE > the 50 checked below
PER_LIFE = 15
SEED = 20260601


async def start_gateway(config: Path, url: str, log: Any) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(config),
        "serve",
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            if proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the gateway process did not come up (exit status {proc.returncode})")
            await asyncio.sleep(0.05)


async def outbox(url: str, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            async with http.get(f"{url}/admin/outbox", params={"limit": "1000", "offset": str(len(items))}) as resp:
                page = (await resp.json())["items"]
            items.extend(page)
            if len(page) < 1000:
                return items


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_no_receipted_submission(
    dev_folder: Path, tmp_path: Path, samples_dir: Path
) -> None:
    rng = random.Random(SEED)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = f"sqlite:///{tmp_path / 'gateway.db'}"
    transport = AiohttpTransport()
    sims_config = parse_config(config_dict(dev_folder, store, {}, port), "crash test", tmp_path)
    running = await start_simulators(
        sims_config, ["g60"], port_base=None, clock=time.time, transport=transport, gateway_url=url, options=SIM_OPTIONS
    )
    data = config_dict(
        dev_folder,
        store,
        {"g60": running[0].url},
        port,
        extra={"delivery": {"worker": {"lease_seconds": 2.0, "poll_interval": 0.05}}},
    )
    config_file = write_config(data, tmp_path / "gateway.toml")
    config = parse_config(data, "crash test", tmp_path)
    client = partner_client(config, "hefei", url, transport)
    base = sample(config, samples_dir, "anhui", "case", "SC001.json")  # 苏州 320500 → g60
    book = running[0].sim.book
    log = (tmp_path / "gateway.log").open("wb")

    receipted: dict[str, str] = {}
    unanswered: set[str] = set()
    refused: list[str] = []
    versions = iter(range(1, 1_000_000))
    streaming = True

    async def stream() -> None:
        while streaming:
            case = replace(base, version=next(versions))
            key = f"case:{case.case_no}:{case.version}"
            try:
                receipted[key] = (await client.submit("case", case, f"m-{case.version}")).receipt_no
            except TransientDeliveryError:  # down, or killed while answering: no receipt
                unanswered.add(key)
                await asyncio.sleep(0.02)
            except Refusal as exc:
                refused.append(exc.code)

    proc = await start_gateway(config_file, url, log)
    try:
        clients = [asyncio.create_task(stream()) for _ in range(8)]
        for _ in range(KILLS):
            # each instance first takes its share of the stream (on a loaded machine a fixed time may see too few
            # calls), then dies at a random moment while submissions are still coming in
            since = len(receipted)
            await wait_for(lambda since=since: len(receipted) >= since + PER_LIFE, timeout=60, what="receipts")
            await asyncio.sleep(rng.uniform(0.0, 0.9))
            proc.kill()  # SIGKILL: no cleanup, no flush, whatever was in flight
            await proc.wait()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            proc = await start_gateway(config_file, url, log)
        await asyncio.sleep(0.5)
        streaming = False
        await asyncio.gather(*clients)

        assert refused == []
        assert len(receipted) > 50 and unanswered, "the stream should have met both answered and cut-off calls"
        await wait_for(lambda: set(receipted) <= set(book.receipts), timeout=30, what="every receipt delivered")
        token = (dev_folder / "admin-token").read_text(encoding="ascii").strip()
        messages: list[dict[str, Any]] = []

        async def drained() -> bool:
            messages[:] = await outbox(url, token)
            return all(m["state"] == "delivered" for m in messages)

        deadline = time.monotonic() + 30
        while not await drained():
            assert time.monotonic() < deadline, "the outbox did not drain"
            await asyncio.sleep(0.1)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()
        await stop_simulators(running)
        await transport.close()

    received = Counter(r["key"] for r in book.snapshot("case"))
    print(
        f"crash test: {len(receipted)} receipted, {len(unanswered)} cut off, {len(received)} delivered, "
        f"{book.calls} delivery calls"
    )
    assert set(received.values()) == {1}  # each record took effect once
    assert set(receipted) <= set(received)  # every receipt was delivered
    assert set(received) <= set(receipted) | unanswered  # nothing that was never submitted
    accepted = {f"case:{m['idempotency_key']}" for m in messages}
    assert len(accepted) == len(messages)  # one outbox message per accepted submission
    assert accepted == set(received)  # accepted = delivered (+ pending 0, dead 0)
    assert book.calls >= len(received)  # a delivery cut off by a kill may have been sent again, and deduplicated
