"""Every command line the README's table and docs/running.md show, run exactly as written (the configuration path
and the ports substituted: see commands_support.runnable), as real subprocesses of the installed ``gateway``.

Servers (``serve``, ``python server.py``, ``simulate``) must come up and answer, then stop cleanly on their signal;
commands that talk to a running gateway (``traffic``, ``sync``, ``outbox``, ``log``) run against one started here
(simulators and gateway started together, as in two terminals); the others run on their own.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_support import (
    GATEWAY,
    REPO,
    Site,
    free_base,
    http_status,
    listening,
    make_site,
    markdown_commands,
    output,
    readme_commands,
    runnable,
    start,
    stop,
    subcommand,
    wait_until,
)

README = readme_commands()
RUNNING = markdown_commands(REPO / "docs" / "running.md")
DOCUMENTED = [("README", argv) for argv in README] + [("docs/running.md", argv) for argv in RUNNING]
NEEDS_A_RUNNING_GATEWAY = ("traffic", "sync", "outbox", "log")


def test_the_documents_show_every_command() -> None:
    shown = {subcommand(argv) for _, argv in DOCUMENTED}
    assert shown >= {"serve", "simulate", "traffic", "translate", "outbox", "sync", "log", "demo", "check-config"}
    assert any(argv[0] in ("python", ".venv/bin/python") for _, argv in DOCUMENTED)  # python server.py
    assert any(argv.index(subcommand(argv)) < argv.index("--config") for _, argv in DOCUMENTED if "--config" in argv)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Simulators and a gateway on a site of their own, started at the same moment (two terminals)."""
    site = make_site(tmp_path_factory.mktemp("running"))
    sims = start(
        [str(GATEWAY), "simulate", "--config", str(site.config), "--port-base", str(site.sim_base)],
        site.folder,
        "simulate",
    )
    gateway = start([str(GATEWAY), "serve", "--config", str(site.config)], site.folder, "serve")
    try:
        wait_until(lambda: http_status(site.url + "/healthz") == 200, gateway)
        wait_until(lambda: listening(site.sim_base + 6), sims)
        yield site
    finally:
        assert stop(gateway) == 0, output(site.folder, "serve")[-3000:]
        assert stop(sims, signal.SIGINT) == 0, output(site.folder, "simulate")[-3000:]


def _label(item: tuple[str, list[str]]) -> str:
    return f"{item[0]}: {' '.join(item[1])}"


@pytest.mark.parametrize("item", DOCUMENTED, ids=[_label(i) for i in DOCUMENTED])
def test_documented_command(item: tuple[str, list[str]], running: Site, tmp_path: Path) -> None:
    _, argv = item
    kind = subcommand(argv)
    if kind in NEEDS_A_RUNNING_GATEWAY:
        command = runnable(argv, running)
        done = subprocess.run(command, cwd=running.folder, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        if kind == "traffic":
            assert "accepted" in done.stdout and "refused" not in done.stdout and "failed" not in done.stdout
        return
    site = make_site(tmp_path / "site")
    command = runnable(argv, site)
    if kind == "serve":
        assert_serves(command, site)
    elif kind == "simulate":
        proc = start(command, site.folder, "simulate")
        try:
            wait_until(lambda: listening(site.sim_base) and listening(site.sim_base + 6), proc)
            assert http_status(f"http://127.0.0.1:{site.sim_base}/_sim/faults") == 200
        finally:
            assert stop(proc, signal.SIGINT) == 0, output(site.folder, "simulate")[-3000:]
    else:
        if kind == "demo":
            command += ["--port-base", str(free_base(9))]  # the demo's own ports, away from the site's
        empty = subprocess.DEVNULL  # console add-user is given no password on stdin and generates one
        done = subprocess.run(command, cwd=site.folder, capture_output=True, timeout=300, check=False, stdin=empty)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]  # bytes: translate writes GB18030


def assert_serves(command: list[str], site: Site) -> None:
    """Up (``/healthz`` 200 on the plain listener, the mutual-TLS listener bound), then a clean stop on SIGTERM."""
    proc = start(command, site.folder, "serve")
    try:
        wait_until(lambda: http_status(site.url + "/healthz") == 200, proc)
        assert listening(site.tls_port)
    finally:
        assert stop(proc) == 0, output(site.folder, "serve")[-3000:]


def test_outbox_without_a_store_is_one_line(tmp_path: Path) -> None:
    site = make_site(tmp_path)  # no var/ in this folder: the SQLite file cannot be created
    done = subprocess.run(
        [str(GATEWAY), "outbox", "list", "--config", str(site.config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "store.url" in done.stderr, done.stderr


def test_config_before_and_after_the_subcommand(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    (tmp_path / "var").mkdir()
    for argv in (
        ["--config", str(site.config), "check-config"],
        ["check-config", "--config", str(site.config)],
        ["outbox", "list", "--config", str(site.config)],
        ["outbox", "--config", str(site.config), "list"],
        ["--config", str(site.config), "log", "verify"],
        ["log", "verify", "--config", str(site.config)],
    ):
        done = subprocess.run(
            [str(GATEWAY), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    assert (
        str(site.config)
        in subprocess.run(
            [str(GATEWAY), "check-config", "--config", str(site.config)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )


def test_serve_moves_its_ports_from_the_command_line(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    base = free_base(2)
    moved = Site(site.folder, site.config, base, base + 1, site.sim_base)
    assert_serves(
        [str(GATEWAY), "serve", "--config", str(site.config), "--port", str(base), "--tls-port", str(base + 1)], moved
    )
    assert not listening(site.port)


@pytest.mark.parametrize("flag", ["--port", "--tls-port"])
def test_a_busy_port_is_one_line_naming_it_and_the_setting(tmp_path: Path, flag: str) -> None:
    import socket

    site = make_site(tmp_path)
    busy = site.port if flag == "--port" else site.tls_port
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        done = subprocess.run(
            [str(GATEWAY), "serve", "--config", str(site.config)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    setting = "server.port" if flag == "--port" else "server.tls_port"
    assert f"port {busy}" in lines[0] and setting in lines[0] and f"serve {flag}" in lines[0]


def test_traffic_numbers_each_run_afresh(running: Site) -> None:
    """Two runs of 4 cases from ningbo (one to each region another platform serves): every case of both runs is new
    (a repeat would get the first receipt and no delivery), so the changsha simulator receives one per run."""
    changsha = f"http://127.0.0.1:{running.sim_base + 5}/_sim/records?operation=case"

    def received() -> int:
        with urllib.request.urlopen(changsha, timeout=5) as answer:
            return len(json.loads(answer.read()))

    before = received()
    for _ in range(2):
        argv = ["traffic", "--config", str(running.config), "--partners", "ningbo", "--rate", "20", "--duration", "0.2"]
        done = subprocess.run(
            [str(GATEWAY), *argv], cwd=running.folder, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert re.search(r"^ningbo\s+accepted\s+4$", done.stdout, re.MULTILINE), done.stdout
    deadline = time.monotonic() + 30
    while received() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert received() == before + 2


def test_traffic_refuses_an_unknown_partner(running: Site) -> None:
    done = subprocess.run(
        [str(GATEWAY), "traffic", "--config", str(running.config), "--partners", "atlantis"],
        cwd=running.folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "atlantis" in done.stderr and "Traceback" not in done.stderr


def test_the_simulator_answers_the_gateways_refusal(running: Site) -> None:
    """``POST /_sim/emit-status`` with an event the gateway refuses (a malformed department code): the gateway's
    code and field as a problem document, not a bare 500."""
    event = {
        "case_no": "DEMOREFUSED0001",
        "seq": 2,
        "status": "ACCEPTED",
        "event_at": "2026-12-03T10:00:00+08:00",
        "promise_end": "2026-12-10T10:00:00+08:00",
        "handling_region": "330200",
        "dept_code": "NOT-A-USCC",
        "dept_name": "办理部门",
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.sim_base + 4}/_sim/emit-status",  # ningbo
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 422
    assert refused.value.headers["content-type"].startswith("application/problem+json")
    problem = json.loads(refused.value.read())
    assert problem["code"] == "BAD_FORMAT" and problem["field"] == "body.deptCode" and problem["status"] == 422
    not_json = urllib.request.Request(
        f"http://127.0.0.1:{running.sim_base + 4}/_sim/emit-status",
        data=b"[1, 2",
        headers={"content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(not_json, timeout=30)
    assert bad.value.code == 400 and json.loads(bad.value.read())["code"] == "BAD_FORMAT"


def test_a_host_not_on_this_machine_is_one_line(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    done = subprocess.run(
        [str(GATEWAY), "serve", "--config", str(site.config), "--host", "192.0.2.1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # TEST-NET-1: never local
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "gateway: 192.0.2.1 is not an address of this machine; change server.host in the configuration (serve --host)"
    )
