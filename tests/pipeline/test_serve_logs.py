"""``gateway serve`` as operators run it (a real process): its log stream is JSON only, at the chosen level, and a
partner's refusal is one line naming platform, stage, code and request id."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config import DEFAULT_CONFIG


def _config(tmp_path: Path, dev: Path, logging_table: str = "") -> Path:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for old, new in (
        ('credentials = "var/dev"', f'credentials = "{dev}"'),
        ("port = 8080", "port = 0"),
        ("tls_port = 8443", "tls_port = 0"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "gateway.toml"
    path.write_text(text + logging_table, encoding="utf-8")
    return path


async def _serve(tmp_path: Path, config: Path, *extra: str) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """Start ``gateway --config FILE serve --port 0 ...``; return it, its URL and the stderr lines read so far."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(config),
        "serve",
        *extra,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, "".join(lines)
        lines.append(line)
        found = re.search(r"Running on (http://[0-9.]+:[0-9]+)", line)
        if found:
            return proc, found.group(1), lines


async def _stop(proc: asyncio.subprocess.Process, lines: list[str]) -> list[str]:
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    return lines + err.decode().splitlines(keepends=True)


async def test_the_json_stream_holds_only_json_and_every_refusal(tmp_path: Path, dev_folder: Path) -> None:
    proc, url, lines = await _serve(tmp_path, _config(tmp_path, dev_folder), "--log-level", "debug")
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/partners/hefei/kstb/v1/case/submit",
                data=b'{"APPLY_CARDNUMBER":"340104197002058111"}',
                headers={"Content-Type": "application/json", "X-Request-Id": "req-test-1"},
            ) as resp,
        ):
            assert resp.status == 401  # no TIF headers (anhui.md §2)
    finally:
        lines = await _stop(proc, lines)
    records: list[dict[str, Any]] = [json.loads(line) for line in lines if line.strip()]  # nothing but JSON
    running = [r for r in records if "Running on" in r["message"]]
    assert running and running[0]["logger"] == "gateway.server"
    [refusal] = [r for r in records if r["logger"] == "gateway.refusals"]
    assert refusal["level"] == "WARNING"
    assert (refusal["platform"], refusal["stage"], refusal["code"]) == ("hefei", "transport", "AUTH_FAILED")
    assert refusal["request_id"] == "req-test-1"
    assert "340104197002058111" not in "".join(lines)


async def test_plain_format_and_level_from_the_configuration(tmp_path: Path, dev_folder: Path) -> None:
    config = _config(tmp_path, dev_folder, '\n[logging]\nlevel = "WARNING"\nformat = "plain"\n')
    proc, url, lines = await _serve(tmp_path, config, "--log-level", "INFO")  # the command line wins
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{url}/partners/hefei/kstb/v1/case/submit", data=b"{}") as resp,
        ):
            assert resp.status == 401
    finally:
        lines = await _stop(proc, lines)
    text = "".join(lines)
    assert re.search(r"^\S+ INFO gateway\.server: ======== Running on http://", text, re.MULTILINE)
    assert re.search(
        r'^\S+ WARNING gateway\.refusals: refused a call from hefei: AUTH_FAILED .*stage="transport"',
        text,
        re.MULTILINE,
    )
    assert not any(line.startswith("{") for line in lines)


def test_a_bad_logging_section_is_refused_with_its_key(tmp_path: Path, dev_folder: Path) -> None:
    config = _config(tmp_path, dev_folder, '\n[logging]\nformat = "xml"\n')
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "logging.format" in done.stderr and "xml" in done.stderr
