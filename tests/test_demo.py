"""``gateway demo --once`` runs the whole exchange on one machine and reports it (a real subprocess)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from commands_support import free_base

from gateway.config import DEFAULT_CONFIG


def demo(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The demo as the README runs it, in ``folder`` (its ``var/`` lands there), every port moved."""
    command = [sys.executable, "-m", "gateway.cli", "demo", "--once", "--config", str(DEFAULT_CONFIG)]
    command += ["--port-base", str(free_base(9)), *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False)


def test_demo_once_and_a_second_run_in_the_same_folder(tmp_path: Path) -> None:
    for run in (1, 2):  # the second run submits fresh case numbers: delivered again, not answered as repeats
        result = demo(tmp_path)
        assert result.returncode == 0, f"run {run}: " + result.stdout[-2000:] + result.stderr[-3000:]
        out = result.stdout
        assert "outbox: 0 pending, 0 dead letters" in out
        assert "refused ID_CHECKSUM" in out
        assert "answered, issuer signature verified" in out
        assert "ningbo     case 1, status 2" in out  # one from changsha, one from the g60 hub over mutual TLS
        assert "songjiang  case 1, status 1" in out
        # personal data of the stream never reaches the output
        assert "11010519491231002X" not in out + result.stderr
    assert (tmp_path / "var" / "gateway.db").exists()
    assert "catalogue sync  hefei      items unchanged" in out  # the same folder: the second sync finds it done


def test_demo_once_exits_1_when_messages_are_left_pending(tmp_path: Path) -> None:
    result = demo(tmp_path, "--error-rate", "1", "--wait", "1")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert "left pending or dead" in result.stdout
    assert "outbox: 0 pending" not in result.stdout


def test_busy_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    base = free_base(9)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", base + 7))  # where --port-base puts the gateway's plain listener
        holder.listen()
        command = [sys.executable, "-m", "gateway.cli", "demo", "--once", "--port-base", str(base)]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {base + 7}" in lines[0] and "demo --port-base" in lines[0]
