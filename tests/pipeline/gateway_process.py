"""A gateway subprocess (``python -m gateway.cli --config FILE serve``) whose log is read through a pipe.

A pipe rather than a file: the read-only store test limits the process's file size (``RLIMIT_FSIZE``), which would
stop it writing a log file too, and the reload test reads the log while the process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]


class GatewayProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace"))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def wait(self, timeout: float) -> int:
        status = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._reader, 5)
        return status

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        await self._reader


async def spawn_gateway(config: Path, *serve_args: str) -> GatewayProcess:
    """``gateway serve`` on ``config`` with ``serve_args``, its log read through the pipe; not waited for."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(config),
        "serve",
        *serve_args,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return GatewayProcess(proc)


async def start_gateway_process(config: Path, url: str, *, timeout: float = 30.0) -> GatewayProcess:
    """Start ``gateway serve`` on ``config`` and wait until ``url``/healthz answers."""
    gateway = await spawn_gateway(config)
    proc = gateway.proc
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return gateway
            if proc.returncode is not None or time.monotonic() > deadline:
                await gateway.stop()
                raise AssertionError(f"the gateway did not come up (exit status {proc.returncode}):\n{gateway.log}")
            await asyncio.sleep(0.05)
