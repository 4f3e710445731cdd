"""What operators see of a real exchange: metrics, readiness, and the message log with its evidence."""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pipeline_stack import Stack, start_stack

from gateway.config import DEFAULT_CONFIG
from gateway.server.keys import MSGLOG


@pytest.fixture
async def ops_stack(dev_folder: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    built = await start_stack(
        dev_folder,
        f"sqlite:///{tmp_path / 'gw.db'}",
        extra={"message_log": {"url": f"sqlite:///{tmp_path / 'msglog.db'}"}},
    )
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def ops_stack_done(ops_stack: Stack, dev_folder: Path, tmp_path: Path, samples_dir: Path) -> Path:
    """A finished, sealed exchange, and a configuration file for the CLI naming the same message log and keys."""
    case = sample(ops_stack, samples_dir, "shanghai", "case", "SC001.xml")
    await ops_stack.partner_client("songjiang").submit("case", case, "m-cli-1")
    await ops_stack.app[MSGLOG].seal(time.time())
    base = dev_folder.parent
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for old, new in (
        ('credentials = "var/dev"', f'credentials = "{dev_folder}"'),
        ('url = "sqlite:///var/gateway.db"', f'url = "sqlite:///{tmp_path / "gw.db"}"'),
        ('url = "sqlite:///var/msglog.db"', f'url = "sqlite:///{tmp_path / "msglog.db"}"'),
        ('key_file = "var/dev/msglog-data.key"', f'key_file = "{base / "var/dev/msglog-data.key"}"'),
        ('seal_key_file = "var/dev/msglog-seal.pem"', f'seal_key_file = "{base / "var/dev/msglog-seal.pem"}"'),
        ('token_file = "var/dev/admin-token"', f'token_file = "{dev_folder / "admin-token"}"'),
    ):
        assert old in text
        text = text.replace(old, new)
    tomllib.loads(text)
    (tmp_path / "gateway.toml").write_text(text, encoding="utf-8")
    return tmp_path


def sample(stack: Stack, samples_dir: Path, dialect: str, record_type: str, name: str) -> Any:
    body = (samples_dir / dialect / record_type / name).read_bytes()
    return stack.config.registry.adapter(dialect).decode(record_type, body)


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_readiness_and_the_message_log(ops_stack: Stack, samples_dir: Path, tmp_path: Path) -> None:
    stack = ops_stack
    case = sample(stack, samples_dir, "shanghai", "case", "SC001.xml")
    await stack.partner_client("songjiang").submit("case", case, "m-ops-1")
    evaluation = sample(stack, samples_dir, "zlb", "evaluation", "SE005.json")  # 差评, region 340100 → hefei
    await stack.partner_client("ningbo").submit("evaluation", evaluation, "m-ops-2")
    g60 = stack.sims["g60"].sim.book
    for _ in range(200):
        if g60.snapshot("case"):
            break
        await asyncio.sleep(0.02)

    status, text = await _get(f"{stack.gateway_url}/metrics")
    assert status == 200
    assert 'tongban_requests_total{operation="case",outcome="accepted",platform="songjiang"} 1.0' in text
    assert "tongban_bad_reviews_total" in text
    assert case.applicant.id_number not in text and case.case_no not in text  # no personal data, no case numbers
    status, text = await _get(f"{stack.gateway_url}/readyz")
    assert status == 200, text

    log = stack.app[MSGLOG]
    await log.seal(time.time())
    report = await log.verify()
    assert report.ok, report
    found = await log.search(case_no=case.case_no)
    directions = {(e.direction, e.platform) for e in found}
    assert ("in", "songjiang") in directions  # the submission as received
    assert ("out", "g60") in directions  # the delivery as sent
    data = (tmp_path / "msglog.db").read_bytes()
    assert case.applicant.id_number.encode() not in data
    assert evaluation.applicant.id_number.encode() not in data


def test_log_commands_verify_search_export_offline(ops_stack_done: Path) -> None:
    """The CLI reads the same log: verify, search (masked unless revealed), export, verify the export offline, and
    a byte changed in the export is caught."""
    import json
    import subprocess
    import sys

    config = ops_stack_done / "gateway.toml"

    def gateway(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "--config", str(config), "log", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=ops_stack_done,
        )

    verified = gateway("verify")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    found = gateway("search", "--case-no", "3205002405030562129")
    assert found.returncode == 0, found.stderr
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert rows
    assert all("message" not in r for r in rows)
    revealed = gateway("search", "--case-no", "3205002405030562129", "--reveal")
    assert any("3205002405030562129" in json.loads(line).get("message", "") for line in revealed.stdout.splitlines())
    export = ops_stack_done / "segment.json"
    assert gateway("export", str(export)).returncode == 0
    assert json.loads(gateway("verify-export", str(export)).stdout)["ok"] is True
    data = bytearray(export.read_bytes())
    data[len(data) // 2] ^= 0x01
    export.write_bytes(bytes(data))
    assert gateway("verify-export", str(export)).returncode != 0


async def test_certificate_expiry_is_a_metric(ops_stack: Stack) -> None:
    status, text = await _get(f"{ops_stack.gateway_url}/readyz")
    assert status == 200, text
    status, text = await _get(f"{ops_stack.gateway_url}/metrics")
    lines = [line for line in text.splitlines() if line.startswith("tongban_key_expiry_seconds{")]
    assert any('platform="g60"' in line for line in lines)  # the G60 link's signing certificate and CA
    assert all(float(line.rsplit(" ", 1)[1]) > 0 for line in lines)


async def test_authentication_refusals_are_counted(ops_stack: Stack, samples_dir: Path) -> None:
    body = (samples_dir / "anhui/case/SC001.json").read_bytes()
    url = f"{ops_stack.gateway_url}/partners/hefei/kstb/v1/case/submit"
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as resp:
        assert resp.status == 401  # no TIF headers (anhui.md §2)
    _, text = await _get(f"{ops_stack.gateway_url}/metrics")
    assert 'tongban_auth_refusals_total{code="AUTH_FAILED",platform="hefei"} 1.0' in text


def test_secrets_from_the_environment(dev_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin token and the message-log data key may come from the environment, read once at start."""
    from pipeline_stack import config_dict

    from gateway.config import parse_config
    from gateway.errors import ConfigError
    from gateway.msglog_cli import _data_key
    from gateway.server.admin import ensure_admin_token

    data = config_dict(
        dev_folder,
        f"sqlite:///{tmp_path / 'gw.db'}",
        {},
        extra={"admin": {"token_env": "TB_ADMIN"}, "message_log": {"key_env": "TB_LOGKEY"}},
    )
    config = parse_config(data, "env test", tmp_path)
    token = ensure_admin_token(config, {"TB_ADMIN": "s3cret-token"})
    assert token is not None
    assert token.reveal() == b"s3cret-token"
    assert "s3cret" not in repr(token)
    with pytest.raises(ConfigError) as info:
        ensure_admin_token(config, {})
    assert info.value.key == "admin.token_env"
    monkeypatch.setenv("TB_LOGKEY", "00" * 16)
    assert _data_key(config) == bytes(16)
    monkeypatch.delenv("TB_LOGKEY")
    with pytest.raises(ConfigError):
        _data_key(config)
