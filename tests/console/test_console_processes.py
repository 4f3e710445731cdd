"""Two ``gateway serve`` processes on one store (a SQLite file, then a PostgreSQL schema), each with its console on
a port of its own: an operator created by ``gateway console add-user`` logs in on process A, and the same cookie is
signed in on process B; logging out on B signs the operator out of A too."""

from __future__ import annotations

import socket
import subprocess
import tomllib
from pathlib import Path

import aiohttp
import pytest
import tomli_w
from commands_support import GATEWAY, Site, listening, make_site, output, start, stop, wait_until
from console_support import csrf_of


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _site(folder: Path, store_url: str) -> tuple[Site, int]:
    """The default configuration on a store of its choosing, its gateway and console on ports of their own."""
    site = make_site(folder)
    data = tomllib.loads(site.config.read_text(encoding="utf-8"))
    port, tls_port, console_port = _free_ports(3)
    data["server"].update(port=port, tls_port=tls_port)
    data["store"]["url"] = store_url
    data["console"] = {"port": console_port, "host": "127.0.0.1"}
    site.config.write_text(tomli_w.dumps(data), encoding="utf-8")
    return site, console_port


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_login_on_one_process_is_a_login_on_the_other(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shared = f"sqlite:///{tmp_path / 'a' / 'var' / 'gateway.db'}" if backend == "sqlite" else None
    store_url = shared or str(request.getfixturevalue("pg_url"))
    (a, a_port), (b, b_port) = _site(tmp_path / "a", store_url), _site(tmp_path / "b", store_url)
    (tmp_path / "a" / "var").mkdir(parents=True, exist_ok=True)
    add = [str(GATEWAY), "console", "add-user", "--config", str(a.config), "duty-1", "--role", "operator"]
    done = subprocess.run(add, cwd=a.folder, input="a-long-password-1\n", text=True, capture_output=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    servers = [start([str(GATEWAY), "serve", "--config", str(s.config)], s.folder, "serve") for s in (a, b)]
    try:
        for server, port in zip(servers, (a_port, b_port), strict=True):
            wait_until(lambda port=port: listening(port), server, timeout=120)  # type: ignore[misc]
        on_a, on_b = f"http://127.0.0.1:{a_port}/console/", f"http://127.0.0.1:{b_port}/console/"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(on_a + "login") as page:
                token = csrf_of(await page.text())
            form = {"csrf": token, "name": "duty-1", "password": "a-long-password-1"}
            async with http.post(on_a + "login", data=form, allow_redirects=False) as login:
                assert login.status == 303
            async with http.get(on_b, allow_redirects=False) as page:
                html = await page.text()
                assert page.status == 200 and '<span id="who">duty-1</span> (operator)' in html
            async with http.post(on_b + "logout", data={"csrf": csrf_of(html)}, allow_redirects=False) as out:
                assert out.status == 303
            async with http.get(on_a, allow_redirects=False) as page:
                assert page.status == 303 and page.headers["Location"] == "/console/login"
    finally:
        for server, site in zip(servers, (a, b), strict=True):
            assert stop(server) == 0, output(site.folder, "serve")[-2000:]
