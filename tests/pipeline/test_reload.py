"""SIGHUP reloads the configuration of a running gateway process: a valid change takes effect without a restart,
a change that needs a restart is named in the log, and a broken file is logged and changes nothing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from gateway_process import GatewayProcess, start_gateway_process
from pipeline_stack import config_dict, free_port, wait_for, write_config

CATALOGUE = "/partners/hefei/catalog/items"  # any hefei route: the rate limit is checked before anything else


async def _statuses(url: str, n: int) -> list[int]:
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(n):
            async with http.get(url + CATALOGUE) as resp:
                statuses.append(resp.status)
        return statuses


async def _hup(gateway: GatewayProcess, expect: str) -> None:
    seen = len(gateway.lines)
    gateway.proc.send_signal(signal.SIGHUP)
    await wait_for(
        lambda: any(expect in line for line in gateway.lines[seen:]), timeout=10, what=f"a log line saying {expect!r}"
    )


@pytest.mark.slow
async def test_sighup_applies_a_valid_change_and_survives_a_broken_file(dev_folder: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gateway.db'}", {}, port)
    config_file = write_config(data, tmp_path / "gateway.toml")
    gateway = await start_gateway_process(config_file, url)
    try:
        assert 429 not in await _statuses(url, 5)  # 100 000 a second in the test configuration

        data["platforms"]["hefei"]["rate_limit"] = 0.01  # one call, then one per 100 s
        data["server"]["port"] = free_port()  # a listener change: needs a restart, the running port stays
        write_config(data, config_file)
        await _hup(gateway, "configuration reloaded")
        statuses = await _statuses(url, 3)
        assert statuses.count(429) >= 2, statuses  # the new rate holds at once, on the running listener
        assert "platforms.hefei.rate_limit" in gateway.log
        restart_line = next(line for line in gateway.lines if "need a restart" in line)
        assert "server.port" in restart_line and "platforms.hefei.rate_limit" not in restart_line

        config_file.write_text("[server\nport = ", encoding="utf-8")  # a broken file
        await _hup(gateway, "configuration reload refused")
        assert gateway.proc.returncode is None  # still running (before: SIGHUP killed it, exit 129)
        statuses = await _statuses(url, 2)
        assert statuses == [429, 429]  # the configuration in force is still the last good one

        data["platforms"]["hefei"]["rate_limit"] = 100_000
        data["delivery"]["max_age"] = "1d"
        write_config(data, config_file)
        await _hup(gateway, "configuration reloaded")
        await asyncio.sleep(0.05)
        assert 429 not in await _statuses(url, 5)
        reloaded = [line for line in gateway.lines if "configuration reloaded" in line]
        assert "delivery.max_age" in reloaded[-1]

        gateway.proc.send_signal(signal.SIGTERM)
        assert await gateway.wait(timeout=30) == 0
    finally:
        await gateway.stop()
    assert "Traceback" not in gateway.log
