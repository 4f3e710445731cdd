"""The deployment examples give the gateway longer to stop than its own shutdown grace: a supervisor that SIGKILLs
first leaves claimed messages waiting out their leases (issue: exit took 91 s against a 60 s stop timeout)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gateway.config import DEFAULT_CONFIG, parse_config
from gateway.errors import ConfigError
from gateway.server.shutdown import shutdown_budget, shutdown_reserve

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
#: the supervisor's stop timeout over the gateway's grace: process teardown, and slack for a loaded host
SUPERVISOR_MARGIN = 10


def _grace() -> float:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    return parse_config(data, str(DEFAULT_CONFIG), DEFAULT_CONFIG.parent).server.shutdown_grace


def test_systemd_and_kubernetes_stop_timeouts_match_the_configured_grace() -> None:
    grace = _grace()
    unit = (EXAMPLES / "tongban-gateway.service").read_text(encoding="utf-8")
    k8s = (EXAMPLES / "kubernetes.yaml").read_text(encoding="utf-8")
    (systemd,) = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)
    (kubernetes,) = re.findall(r"^\s*terminationGracePeriodSeconds:\s*(\d+)\s*$", k8s, re.MULTILINE)
    assert int(systemd) == int(kubernetes) == grace + SUPERVISOR_MARGIN
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit


def test_the_grace_is_spent_on_in_flight_work_first_and_closing_last() -> None:
    assert shutdown_budget(30) == 25 and shutdown_reserve(30) == 5  # at most 5 s kept for closing
    assert shutdown_budget(4) == 3 and shutdown_reserve(4) == 1  # a quarter of a short grace


def test_a_bad_grace_is_refused_naming_the_key() -> None:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    for bad in ("30s", 0, 86400, True):
        data["server"]["shutdown_grace"] = bad
        with pytest.raises(ConfigError, match=r"server\.shutdown_grace"):
            parse_config(data, "test.toml", DEFAULT_CONFIG.parent)
