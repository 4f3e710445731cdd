"""/readyz answers for this instance only: it refuses while the store cannot commit, and a partner's open breaker
is a metric (changed the moment the breaker changes), never readiness."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import aiohttp
from gateway_process import start_gateway_process
from pipeline_stack import Stack, config_dict, free_port, wait_for_async, write_config

from gateway.delivery import BreakerState
from gateway.observability.metrics import BREAKER_LEVELS


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


def _gauge(text: str, destination: str) -> float:
    prefix = f'tongban_breaker_state{{destination="{destination}"}} '
    return float(next(line for line in text.splitlines() if line.startswith(prefix))[len(prefix) :])


async def test_an_open_breaker_is_a_live_metric_and_never_readiness(stack: Stack) -> None:
    breaker = stack.worker.breakers.get("g60")
    for _ in range(breaker.settings.consecutive_failures):
        breaker.record_failure()  # g60 is failing: its breaker opens
    status, text = await _get(f"{stack.gateway_url}/metrics")
    assert _gauge(text, "g60") == BREAKER_LEVELS[BreakerState.OPEN.value]  # now, not at the next 5 s refresh
    status, body = await _get(f"{stack.gateway_url}/readyz")
    assert status == 200, body  # one partner's outage does not take this instance out of service
    assert json.loads(body) == {"ready": True, "failures": {}}

    await wait_for_async(_probe_allowed(breaker), timeout=5, what="the cool-down to end")
    status, text = await _get(f"{stack.gateway_url}/metrics")
    assert _gauge(text, "g60") == BREAKER_LEVELS[BreakerState.HALF_OPEN.value]  # the one-probe state is visible
    breaker.record_success()
    status, text = await _get(f"{stack.gateway_url}/metrics")
    assert _gauge(text, "g60") == BREAKER_LEVELS[BreakerState.CLOSED.value]


def _probe_allowed(breaker: object) -> object:
    async def probe() -> bool:
        return bool(breaker.allow())  # type: ignore[attr-defined]

    return probe


async def test_readyz_refuses_while_the_store_cannot_write(dev_folder: Path, tmp_path: Path) -> None:
    """A store that answers reads but refuses every write: the gateway process may not write past byte 1 of any
    file (``RLIMIT_FSIZE``, set on the running process with ``prlimit``). Unlike ``chmod`` or a read-only directory
    this holds for root too (tests run as root), needs no mount privileges, and fails SQLite's writes the way a full
    disk does (the write system call fails, ``disk I/O error``), while ``SELECT 1`` still answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gateway.db'}", {}, port)
    gateway = await start_gateway_process(write_config(data, tmp_path / "gateway.toml"), url)
    try:
        status, body = await _get(f"{url}/readyz")
        assert status == 200, body
        soft, hard = resource.prlimit(gateway.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(gateway.proc.pid, resource.RLIMIT_FSIZE, (1, hard))
        status, body = await _get(f"{url}/readyz")
        assert status == 503, body
        failures = json.loads(body)["failures"]
        assert set(failures) == {"store"}
        assert failures["store"].startswith("cannot write")
        status, _ = await _get(f"{url}/healthz")
        assert status == 200  # alive, not ready: restart is not the cure, a writable disk is

        resource.prlimit(gateway.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
        status, body = await _get(f"{url}/readyz")
        assert status == 200, body
    finally:
        await gateway.stop()
    assert '"not ready: store"' in gateway.log or "not ready: store" in gateway.log
    assert os.fspath(tmp_path) not in gateway.log.split("not ready", 1)[1].splitlines()[0]
