"""The gateway's memory stays bounded under hostile bodies (issue 11: the 50 MB, deep-nesting and 30,000-material
cases), measured on a real gateway process from /proc/PID/status.

The bound (docs/operations.md, "Connection limits"): the process's peak resident set (``VmHWM``) after every case
stays under ``RSS_BOUND``, and each case is answered with a refusal or a translation, never a 5xx. A body is never
held beyond its dialect's limit (10 MiB at most, g60), a body on the wrong listener is not read at all, and parsers
work on bounded documents, so the peak is the idle process plus a few copies of one 10 MiB body.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pipeline_stack import REPO, config_dict, free_port, write_config

RSS_BOUND = 256 * 1024 * 1024  # bytes of peak resident memory: measured idle ~75 MiB, peak ~150 MiB (Dec 2026)
FIFTY_MB = 50 * 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


async def zeros(total: int, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    """``total`` bytes sent chunked (no Content-Length), as a client that never stops would."""
    block = b"0" * chunk
    for _ in range(total // chunk):
        yield block


def many_materials(samples_dir: Path, n: int) -> bytes:
    text = (samples_dir / "g60/case/SC001.xml").read_bytes()
    start, end = text.index(b"<Material>"), text.index(b"</Material>") + len(b"</Material>")
    return text[:start] + text[start:end] * n + text[text.index(b"</Materials>") :]


@pytest.mark.slow
async def test_hostile_bodies_keep_the_gateway_process_under_its_rss_bound(
    dev_folder: Path, tmp_path: Path, samples_dir: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = config_dict(dev_folder, f"sqlite:///{tmp_path / 'gw.db'}", {}, port)
    config_file = write_config(data, tmp_path / "gateway.toml")
    log = (tmp_path / "gateway.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(config_file),
        "serve",
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                assert proc.returncode is None and time.monotonic() < deadline, "the gateway did not come up"
                await asyncio.sleep(0.1)
            idle = status_kib(proc.pid, "VmRSS")
            cases: dict[str, tuple[str, object]] = {
                "50 MB chunked to a partner endpoint": ("/partners/hefei/kstb/v1/case/submit", zeros(FIFTY_MB)),
                "50 MB chunked to /v1/translate": ("/v1/translate?from=g60&to=anhui&type=case", zeros(FIFTY_MB)),
                "10 MiB to g60 on the plain listener": ("/partners/g60/g60/v1/messages", b"<" * (10 << 20)),
                "deep JSON nesting": ("/v1/translate?from=anhui&to=g60&type=case", b"[" * 1_000_000),
                "deep XML nesting": (
                    "/v1/translate?from=g60&to=anhui&type=case",
                    b"<?xml version='1.0'?>" + b"<a>" * 600_000,
                ),
                "30,000 materials": ("/v1/translate?from=g60&to=anhui&type=case", many_materials(samples_dir, 30_000)),
            }
            answers = {}
            for name, (path, body) in cases.items():
                payload = io.BytesIO(body) if isinstance(body, bytes) else body
                async with http.post(url + path, data=payload) as resp:
                    answers[name] = resp.status
                    await resp.read()
            peak = status_kib(proc.pid, "VmHWM") * 1024
        print(f"idle VmRSS {idle // 1024} MiB, peak VmHWM {peak >> 20} MiB, answers {answers}")
        assert all(status < 500 for status in answers.values()), answers
        assert answers["50 MB chunked to a partner endpoint"] == 413
        assert answers["10 MiB to g60 on the plain listener"] == 404
        assert peak < RSS_BOUND, f"peak RSS {peak >> 20} MiB over the bound {RSS_BOUND >> 20} MiB"
    finally:
        proc.terminate()
        await proc.wait()
        log.close()
