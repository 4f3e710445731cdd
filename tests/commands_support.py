"""Running the documented commands as operators do: real subprocesses of the installed ``gateway`` script, a
temporary configuration (the embedded default with free ports; its relative ``var/`` in the test's folder), the
documented argv with only the configuration path and the ports substituted."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gateway.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parents[1]
GATEWAY = Path(sys.executable).parent / "gateway"  # the console script pip installed
CONFIG_PATHS = ("config/gateway.toml", "/etc/tongban/gateway.toml")
GATEWAY_NAMES = ("gateway", ".venv/bin/gateway", "/opt/tongban/.venv/bin/gateway")
PYTHON_NAMES = ("python", "python3", ".venv/bin/python")
SUBCOMMANDS = ("serve", "simulate", "traffic", "translate", "outbox", "sync", "log", "demo", "console", "check-config")


def free_base(n: int) -> int:
    """A base port with ``n`` free consecutive ports after it (probed, then released)."""
    start = 20100 + (os.getpid() * 97) % 15000
    for base in range(start, start + 20000, 37):
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


@dataclass(frozen=True)
class Site:
    """A folder to run commands in, its configuration, and the ports that configuration names."""

    folder: Path
    config: Path
    port: int
    tls_port: int
    sim_base: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_site(folder: Path) -> Site:
    """The embedded default with every port moved to free ones (gateway, its mutual TLS, the 7 simulators)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = free_base(9)
    port, tls_port = base + 7, base + 8
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert "\nport = 8080\n" in text and "\ntls_port = 8443\n" in text
    text = text.replace("\nport = 8080\n", f"\nport = {port}\n").replace(
        "\ntls_port = 8443\n", f"\ntls_port = {tls_port}\n"
    )
    for i in range(7):
        assert f'127.0.0.1:{9101 + i}"' in text
        text = text.replace(f'127.0.0.1:{9101 + i}"', f'127.0.0.1:{base + i}"')
    config = folder / "gateway.toml"
    config.write_text(text, encoding="utf-8")
    return Site(folder, config, port, tls_port, base)


def subcommand(argv: list[str]) -> str:
    if any(a.endswith("server.py") for a in argv[:2]):
        return "serve"
    return next(a for a in argv if a in SUBCOMMANDS)


def runnable(argv: list[str], site: Site) -> list[str]:
    """The documented argv with the program made this environment's, the configuration path made the site's and the
    ports made the site's; nothing else changes (and a ``--config`` is added only when the line has none)."""
    out: list[str] = []
    args = list(argv)
    head = args.pop(0)
    if head in GATEWAY_NAMES:
        out.append(str(GATEWAY))
    elif head in PYTHON_NAMES:
        out.append(sys.executable)
        script = args.pop(0)
        assert script == "server.py", argv
        out.append(str(REPO / "server.py"))
    else:
        raise AssertionError(f"not a gateway command: {argv}")
    ports = {"--port": site.port, "--tls-port": site.tls_port, "--port-base": site.sim_base}
    while args:
        arg = args.pop(0)
        out.append(str(site.config) if arg in CONFIG_PATHS else arg)
        if arg in ports:
            args.pop(0)
            out.append(str(ports[arg]))
        elif arg.startswith("tests/"):
            out[-1] = str(REPO / arg)
    if "--config" not in out and subcommand(argv) != "check-config":
        out += ["--config", str(site.config)]
    return out


def readme_commands() -> list[list[str]]:
    """The commands of the README's table (first column, every backticked command in it)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split(" | ", 1)[0]
        for part in first.split("`")[1::2]:
            if part.split()[0] in (*GATEWAY_NAMES, *PYTHON_NAMES):
                found.append(shlex.split(part))
    return found


def markdown_commands(path: Path) -> list[list[str]]:
    """The command lines of a document's indented code blocks that run the gateway (comments dropped)."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("    ") or line.startswith("     "):
            continue
        words = shlex.split(line.strip(), comments=True)
        if not words:
            continue
        if words[0] in GATEWAY_NAMES or (words[0] in PYTHON_NAMES and words[1:2] == ["server.py"]):
            found.append(words)
    return found


def start(argv: list[str], cwd: Path, name: str) -> subprocess.Popen[bytes]:
    """A long-running command, its output in files of ``cwd`` (a pipe nobody reads would block it)."""
    with (cwd / f"{name}.out").open("wb") as out, (cwd / f"{name}.err").open("wb") as err:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)  # the child keeps its own copies


def output(cwd: Path, name: str) -> str:
    return (cwd / f"{name}.out").read_text(errors="replace") + (cwd / f"{name}.err").read_text(errors="replace")


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_until(check: object, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before it was up")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("not up in time")


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise
