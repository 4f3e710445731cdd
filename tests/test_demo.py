"""``gateway demo --once`` runs the whole exchange on one machine and reports it (a real subprocess)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib
from pathlib import Path

from gateway.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parents[1]


def _free_ports(n: int) -> int:
    """A base port with ``n`` free consecutive ports after it (probed, then released)."""
    for base in range(20100, 40000, 37):
        sockets = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


def test_demo_once(tmp_path: Path) -> None:
    base = _free_ports(9)
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = text.replace("tls_port = 8443", f"tls_port = {base + 7}").replace("port = 8080", f"port = {base + 8}")
    text = text.replace('credentials = "var/dev"', f'credentials = "{tmp_path / "dev"}"')
    text = text.replace('token_file = "var/dev/admin-token"', f'token_file = "{tmp_path / "admin-token"}"')
    text = text.replace('url = "sqlite:///var/gateway.db"', f'url = "sqlite:///{tmp_path / "gateway.db"}"')
    tomllib.loads(text)
    config = tmp_path / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), "demo", "--once", "--port-base", str(base)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "outbox: 0 pending, 0 dead letters" in out
    assert "refused ID_CHECKSUM" in out
    assert "answered, issuer signature verified" in out
    assert "ningbo     case 1, status 2" in out  # one from changsha, one from the g60 hub over mutual TLS
    assert "catalogue sync  hefei      items created                                  2000" in out
    # personal data of the stream never reaches the output
    assert "11010519491231002X" not in out + result.stderr
