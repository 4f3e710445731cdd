"""Shared test fixtures and the suite's rules: the platforms' documents come from the carried copy, a missing
fixture fails, and a run with any skipped test exits non-zero (a skipped test is a test that did not defend
anything)."""

from __future__ import annotations

import compileall
import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings
from platform_data import PLATFORMS

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gateway", "adapters", "signing", "mappings")

# The suite runs on pytest-xdist workers (pyproject's addopts), more of them than a CI machine has CPUs: a property's
# example may then wait a while for a CPU. Hypothesis's 200 ms default deadline would turn such a wait into a
# "flaky" failure that says nothing about the property; 2 s still catches an example that became pathologically slow.
settings.register_profile("suite", deadline=dt.timedelta(seconds=2))
settings.load_profile("suite")


def _ensure_promtool() -> None:
    """promtool (Debian's ``prometheus`` package) checks the metrics exposition and the alert rules: installed
    here where apt exists and we may use it, so that the README's test command needs nothing done beforehand."""
    if shutil.which("promtool") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "prometheus"]):
        if subprocess.run(command, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
            return  # the tests that need it then fail, naming it


def _compile_the_packages() -> None:
    """Byte-compile the project's packages once, before any test runs: the suite starts a few hundred gateway
    subprocesses, and where ``PYTHONDONTWRITEBYTECODE`` is set (as on CI's machines) each of them would otherwise
    compile the whole package again (~0.3 s of CPU a process). Python reads ``__pycache__`` whatever that setting;
    the files are ignored by git and refreshed when a source changes."""
    for package in PACKAGES:
        if (REPO / package).is_dir():  # not in a copy of this file elsewhere (test_platform_data.py makes one)
            compileall.compile_dir(REPO / package, quiet=1)


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller did this before starting the workers
    _ensure_promtool()
    _compile_the_packages()


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test turns the run's exit status into a failure (1), whatever else passed."""
    if _SKIPPED and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SKIPPED:
        terminalreporter.write_line(f"FAILED: {len(_SKIPPED)} test(s) skipped; a skip fails the run:", red=True)
        for nodeid in _SKIPPED[:20]:
            terminalreporter.write_line(f"  {nodeid}")


@pytest.fixture(scope="session")
def platforms_dir() -> Path:
    """The interface documents as the platforms gave them (carried in ``tests/data/platforms``)."""
    if not PLATFORMS.is_dir():
        pytest.fail(f"the platforms' documents are missing from the test data ({PLATFORMS}): tests/data/PROVENANCE.md")
    return PLATFORMS


@pytest.fixture(scope="session")
def samples_dir(platforms_dir: Path) -> Path:
    return platforms_dir / "samples"


@pytest.fixture(scope="session")
def config():  # type: ignore[no-untyped-def]
    """The default configuration (config/gateway.toml), read once."""
    from gateway.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def registry(config):  # type: ignore[no-untyped-def]
    return config.registry


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test PostgreSQL's DSN; with no server answering the test fails, saying why (CI starts PostgreSQL)."""
    from pg_support import SKIP_REASON, find_pg_dsn

    dsn = find_pg_dsn()
    if dsn is None:
        pytest.fail(f"{SKIP_REASON}; start it (.ci/run does) and run again")
    return dsn
