"""The deployment files start the gateway: the Dockerfile, the Kubernetes example and the systemd unit agree with
each other and with the code, and their argv run against a temporary configuration. With a Docker daemon present the
image is built and started and its HEALTHCHECK's URL answered; without one, everything else here still runs (the
build's inputs, user, volume, entrypoint), so the test passes or fails, never skips."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import yaml
from commands_support import (
    REPO,
    free_base,
    http_status,
    listening,
    make_site,
    output,
    runnable,
    start,
    stop,
    wait_until,
)

DOCKERFILE = REPO / "Dockerfile"
KUBERNETES = REPO / "docs" / "examples" / "kubernetes.yaml"
SYSTEMD = REPO / "docs" / "examples" / "tongban-gateway.service"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
IMAGE = f"tongban-gateway:{VERSION}"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _one(name: str) -> str:
    [value] = [rest for word, rest in _instructions() if word == name]
    return value


def docker_argv(args: list[str] | None = None) -> list[str]:
    entrypoint: list[str] = json.loads(_one("ENTRYPOINT"))
    cmd: list[str] = json.loads(_one("CMD"))
    return [*entrypoint, *(cmd if args is None else args)]


def _kubernetes() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(KUBERNETES.read_text(encoding="utf-8")) if doc]


def _container() -> dict[str, Any]:
    [deployment] = [d for d in _kubernetes() if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def _systemd() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in SYSTEMD.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("#")
    )


def _serves(argv: list[str], cwd: Path) -> None:
    site = make_site(cwd)
    proc = start(runnable(argv, site), site.folder, "serve")
    try:
        wait_until(lambda: http_status(site.url + "/healthz") == 200, proc)
        assert http_status(site.url + "/readyz") is not None
        assert listening(site.tls_port)
    finally:
        assert stop(proc) == 0, output(site.folder, "serve")[-3000:]


# --- Dockerfile ----------------------------------------------------------------------------------------------------
def test_the_dockerfile_copies_what_exists_and_installs_the_project() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for word, rest in _instructions():
        if word == "COPY":
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
                assert source not in ignored, f"COPY {source} is excluded by .dockerignore"
    packages = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    copied = {source for word, rest in _instructions() if word == "COPY" for source in shlex.split(rest)[:-1]}
    for package in ("gateway", "adapters", "signing", "mappings"):
        assert f"{package}*" in packages["packages"]["find"]["include"] and package in copied
    assert "pyproject.toml" in copied and "README.md" in copied and "config" in copied  # readme = README.md
    assert any(word == "RUN" and "pip install" in rest for word, rest in _instructions())


def test_the_image_runs_unprivileged_with_var_as_a_volume_and_a_healthcheck() -> None:
    steps = _instructions()
    user = [rest for word, rest in steps if word == "USER"]
    assert user and user[-1] not in ("root", "0")
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert all(word not in ("RUN", "COPY") for word, _ in steps[last_user:])  # nothing after it runs as root
    workdir = [rest for word, rest in steps if word == "WORKDIR"][-1]
    assert json.loads(_one("VOLUME")) == [f"{workdir}/var"]  # the configuration's relative var/ is the volume
    health = _one("HEALTHCHECK")
    config = tomllib.loads((REPO / "config" / "gateway.toml").read_text(encoding="utf-8"))
    assert f"http://127.0.0.1:{config['server']['port']}/healthz" in health
    exposed = {int(p) for p in _one("EXPOSE").split()}
    assert exposed == {config["server"]["port"], config["server"]["tls_port"]}
    assert f"docker build -t {IMAGE} ." in DOCKERFILE.read_text(encoding="utf-8")


def test_the_images_argv_serves(tmp_path: Path) -> None:
    argv = docker_argv()
    assert argv[:2] == ["gateway", "serve"] and "/etc/tongban/gateway.toml" in argv
    _serves(argv, tmp_path)


def test_the_image_builds_and_starts_where_docker_runs(tmp_path: Path) -> None:
    """With a Docker daemon: build, start, wait for the HEALTHCHECK's URL. Without one (this is then the whole
    test): the daemon's absence is the only thing not checked, and ``docker`` is not required to exist."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False).returncode != 0:
        assert DOCKERFILE.exists()
        return
    built = subprocess.run(
        [docker, "build", "-t", IMAGE, str(REPO)], capture_output=True, text=True, timeout=1800, check=False
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    port = free_base(1)
    run = subprocess.run(
        [docker, "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", IMAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    container = run.stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while http_status(f"http://127.0.0.1:{port}/healthz") != 200:
            assert time.monotonic() < deadline, "the container's /healthz never answered"
            time.sleep(1)
        user = subprocess.run([docker, "exec", container, "id", "-u"], capture_output=True, text=True, check=True)
        assert user.stdout.strip() != "0"
    finally:
        subprocess.run([docker, "rm", "-f", container], capture_output=True, timeout=60, check=False)


# --- Kubernetes ------------------------------------------------------------------------------------------------------
def test_kubernetes_runs_the_image_the_dockerfile_builds() -> None:
    container = _container()
    assert container["image"].rsplit("/", 1)[-1] == IMAGE
    assert f"docker build -t {IMAGE} ." in KUBERNETES.read_text(encoding="utf-8")


def test_kubernetes_exposes_both_listeners_probes_and_scrapes() -> None:
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = tomllib.loads((REPO / "config" / "gateway.toml").read_text(encoding="utf-8"))
    assert ports == {"http": config["server"]["port"], "mtls": config["server"]["tls_port"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    [service] = [d for d in _kubernetes() if d["kind"] == "Service"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http", "mtls"}
    [monitor] = [d for d in _kubernetes() if d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"] == service["metadata"]["labels"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] in ports


def test_kubernetes_mounts_config_secrets_and_a_writable_var() -> None:
    container = _container()
    [deployment] = [d for d in _kubernetes() if d["kind"] == "Deployment"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    args = container["args"]
    config_file = Path(args[args.index("--config") + 1])
    assert "configMap" in volumes[mounts[str(config_file.parent)]["name"]]
    assert "secret" in volumes[mounts["/etc/tongban/credentials"]["name"]]
    workdir = [rest for word, rest in _instructions() if word == "WORKDIR"][-1]
    assert f"{workdir}/var" in mounts and not mounts[f"{workdir}/var"].get("readOnly")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_kubernetes_args_serve(tmp_path: Path) -> None:
    argv = docker_argv(_container()["args"])  # the image's entrypoint with the container's args
    assert argv[:2] == ["gateway", "serve"] and "--host" in argv
    _serves(argv, tmp_path)


# --- systemd -------------------------------------------------------------------------------------------------------
def test_systemd_state_directory_is_the_working_directory() -> None:
    unit = _systemd()
    assert unit["ProtectSystem"] == "strict"
    assert unit["WorkingDirectory"] == f"/var/lib/{unit['StateDirectory']}"  # relative var/ lands in it, writable
    assert "ReadOnlyPaths" not in unit


def test_the_systemd_execstart_serves(tmp_path: Path) -> None:
    argv = shlex.split(_systemd()["ExecStart"])
    assert argv[0] == "/opt/tongban/.venv/bin/gateway" and argv[1] == "serve"
    state = tmp_path / "state"  # stands for /var/lib/tongban, the unit's WorkingDirectory
    _serves(argv, state)
    assert (state / "var" / "gateway.db").exists()  # written under the working directory
