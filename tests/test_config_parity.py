"""``gateway check-config`` passes exactly the configurations ``gateway serve`` starts with (issue 13 item 5).

Each configuration below is the embedded default on free ports with one mistake an operator makes; both commands run
as real subprocesses of the installed script. A broken file must be refused by both, with the same first line; a good
one must pass check-config and come up under serve (``/healthz`` 200), then stop on SIGTERM. Environment variables
(``token_env``, ``key_env``) are the runtime's, read by serve at start and not by check-config (which often runs in
CI); they are not varied here.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.commands_support import GATEWAY, Site, http_status, make_site, stop

LINK = """
[platforms.changsha.link]
client_id = "gw"
peer_client_id = "changsha"
assertion_key = "missing/assertion.pem"
assertion_key_kid = "a1"
signing_key = "missing/signing.pem"
signing_key_kid = "s1"
peer_assertion_keys = { p1 = "missing/peer-a.pem" }
peer_signing_keys = { p1 = "missing/peer-s.pem" }
"""
SECRET = '[platforms.changsha.link]\napp_secret = "hunter2"'


def _sub(pattern: str, repl: str) -> object:
    def patch(text: str, site: Site) -> str:
        out, n = re.subn(pattern, repl.format(port=site.port, tls_port=site.tls_port), text, count=1, flags=re.M)
        assert n == 1, pattern
        return out

    return patch


def _add(block: str) -> object:
    return lambda text, site: text + "\n" + block + "\n"


BROKEN: dict[str, object] = {
    "misspelt section [message_logs]": _sub(r"^\[message_log\]$", "[message_logs]"),
    "misspelt section [platform.songjiang]": _sub(r"^\[platforms\.songjiang\]$", "[platform.songjiang]"),
    "misspelt key prot": _sub(r"^port = \d+$", "prot = {port}"),
    "tls_port equal to port": _sub(r"^tls_port = \d+$", "tls_port = {port}"),
    "tls_platform not a platform": _sub(r'^tls_platform = "g60"$', 'tls_platform = "g6o"'),
    "tls_platform without mutual TLS": _sub(r'^tls_platform = "g60"$', 'tls_platform = "hefei"'),
    "base_url not http": _sub(r'^base_url = "http://127\.0\.0\.1:(\d+)"$', r'base_url = "ftp://127.0.0.1:\1"'),
    "base_url without a host": _sub(r'^base_url = "http://127\.0\.0\.1:(\d+)"$', r'base_url = "http://:\1"'),
    "base_url port out of range": _sub(r'^base_url = "http://127\.0\.0\.1:(\d+)"$', 'base_url = "http://h:99999"'),
    "base_url missing": _sub(r'^base_url = "http://127\.0\.0\.1:(\d+)"$', ""),
    "unknown platform key": _sub(r'^dialect = "zlb"$', 'dialect = "zlb"\nrate_limt = 5'),
    "misspelt dialect": _sub(r'^dialect = "hunan"$', 'dialect = "hunam"'),
    "misspelt dialect table": _sub(r"^\[dialects\.g60\]$", "[dialects.g6o]"),
    "unknown delivery key": _sub(r"^max_age = ", "max_ag = "),
    "unknown worker key": _sub(r"^batch = 64$", "bach = 64"),
    "wrong type in the breaker": _sub(r'^cool_down = "30s"$', "cool_down = true"),
    "store url not a store": _sub(r'^url = "sqlite:///var/gateway\.db"$', 'url = "mysql://db/x"'),
    "log level": _add('[logging]\nlevel = "LOUD"'),
    "log format": _add('[logging]\nformat = "xml"'),
    "sync link to no platform": _add('[sync]\nlinks = ["hefei>atlantis"]'),
    "misspelt retention key": _sub(r"^nonces_after = ", "nonce_after = "),
    "message log cipher": _sub(r'^cipher = "SM4-GCM"$', 'cipher = "DES"'),
    "shutdown_grace zero": _sub(r"^shutdown_grace = 30$", "shutdown_grace = 0"),
    "admin token_env not a name": _sub(r"^\[admin\]$", '[admin]\ntoken_env = "NOT A NAME"'),
    "data key not hex": _sub(r'^key_file = "var/dev/msglog-data\.key"$', 'key_file = "bad.key"'),
    "seal key not a key": _sub(r'^seal_key_file = "var/dev/msglog-seal\.pem"$', 'seal_key_file = "not-a-key.pem"'),
    "route to no platform": _add('[[routes]]\ndestinations = ["atlantis"]'),
    "link files that do not exist": _add(LINK),
    "secret written inline in a link": _add(
        LINK.replace('client_id = "gw"', 'client_id = "gw"\napp_secret = "hunter2"')
    ),
    "misspelt link key": _add('[platforms.changsha.link]\nclient_idd = "gw"'),
    "link key files that are no keys": _add(re.sub(r"missing/[a-z-]+\.pem", "not-a-key.pem", LINK)),
    "rotated-out data key missing": _add('[message_log.older_keys]\nk0 = "var/dev/rotated.key"'),
    "console on the gateway's port": lambda text, site: text + f"\n[console]\nport = {site.port}\n",
    "console on the mutual-TLS port": lambda text, site: text + f"\n[console]\nport = {site.tls_port}\n",
    "retry override for no platform": _add('[delivery.destinations.nignbo]\nmax_age = "1d"'),
    "tls_platform without tls_port": _sub(r"^tls_port = \d+$", ""),
    "route with no destination": _add("[[routes]]\ndestinations = []"),
    "default_site not a platform": _sub(r'^default_site = "hefei"$', 'default_site = "hefie"'),
    "item_column not a crosswalk column": _sub(r'^item_column = "ningbo"$', 'item_column = "nigbo"'),
}

#: what the first line names for some of the broken configurations (the key, the fix)
NAMED: dict[str, str] = {
    "misspelt section [message_logs]": "did you mean message_log?",
    "misspelt section [platform.songjiang]": "did you mean platforms?",
    "misspelt key prot": "server.prot: is not a key of [server]; did you mean port?",
    "misspelt dialect table": "dialects.g6o",
    "unknown worker key": "did you mean batch?",
    "tls_port equal to port": "server.tls_port",
    "tls_platform not a platform": "did you mean g60?",
    "link files that do not exist": "platforms.changsha.link.assertion_key",
    "base_url missing": "base_url: is missing",
    "data key not hex": "message_log.key_file",
    "seal key not a key": "message_log.seal_key_file",
    "misspelt link key": "link.client_idd: is not a key of [platforms.changsha.link]; did you mean client_id?",
    "link key files that are no keys": "(private_key_unreadable)",
    "rotated-out data key missing": "message_log.older_keys.k0: the key file 'var/dev/rotated.key' does not exist",
    "console on the gateway's port": "console.port",
    "console on the mutual-TLS port": "is the gateway's tls_port",
    "retry override for no platform": "destinations.nignbo: is not a configured platform; did you mean ningbo?",
    "tls_platform without tls_port": "tls_platform is set without tls_port",
}


GOOD: dict[str, object] = {
    "the embedded default": _add(""),
    "logging, sync links and a route": _add(
        '[logging]\nformat = "plain"\n[sync]\nlinks = ["hefei>yrd-map"]\n[[routes]]\ndestinations = ["hefei"]'
    ),
}


def _write(site: Site, name: str, patch: object) -> Path:
    text = site.config.read_text(encoding="utf-8")
    path = site.folder / (re.sub(r"\W+", "-", name) + ".toml")
    path.write_text(patch(text, site), encoding="utf-8")  # type: ignore[operator]
    return path


def _check(site: Site, path: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(GATEWAY), "check-config", str(path)],
        cwd=site.folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stderr


def _serve(site: Site, path: Path) -> tuple[str, str]:
    """("up", "") once /healthz answers 200 (then stopped), or ("exit <rc>", stderr) if it ended first."""
    err = path.with_suffix(".serve.err")
    with err.open("wb") as stream:
        proc = subprocess.Popen(
            [str(GATEWAY), "serve", "--config", str(path)], cwd=site.folder, stdout=subprocess.DEVNULL, stderr=stream
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exit {proc.returncode}", err.read_text(errors="replace")
        if http_status(site.url + "/healthz") == 200:
            assert stop(proc) == 0
            return "up", ""
        time.sleep(0.2)
    stop(proc)
    raise AssertionError(f"{path.name}: serve neither came up nor exited")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = make_site(tmp_path_factory.mktemp("parity"))
    (site.folder / "var").mkdir()
    (site.folder / "bad.key").write_text("zz\n", encoding="ascii")
    (site.folder / "not-a-key.pem").write_text("hello\n", encoding="ascii")
    return site


def test_there_are_enough_broken_configurations() -> None:
    assert len(BROKEN) >= 20
    assert set(NAMED) <= set(BROKEN)


@pytest.mark.parametrize("name", list(GOOD))
def test_a_good_configuration_passes_both(site: Site, name: str) -> None:
    path = _write(site, name, GOOD[name])
    rc, err = _check(site, path)
    assert rc == 0, err
    assert _serve(site, path) == ("up", "")


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_configuration_is_refused_by_both_alike(site: Site, name: str) -> None:
    """One test per configuration (two gateway processes each), so that a parallel run spreads them over its
    workers instead of one test starting all 66 processes."""
    path = _write(site, name, BROKEN[name])
    rc, check_err = _check(site, path)
    served, serve_err = _serve(site, path)
    assert rc == 1, f"{name}: check-config passed: {check_err}"
    assert served == "exit 1", f"{name}: serve {served}"
    assert _first_line(check_err) == _first_line(serve_err), name
    assert str(path) in check_err, f"{name}: the file is not named: {check_err}"
    assert "Traceback" not in check_err + serve_err, name
    assert "hunter2" not in check_err  # a secret's value is never printed (the inline secret's case)
    if name in NAMED:
        assert NAMED[name] in check_err, (name, check_err)
