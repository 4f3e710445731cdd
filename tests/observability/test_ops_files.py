"""ops/: the Grafana dashboard and the Prometheus alerts query only metrics the gateway exposes, and they work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.observability.metrics import METRIC_NAMES

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "ops" / "prometheus" / "alerts.yml"
ALERT_TESTS = REPO / "ops" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO / "ops" / "grafana" / "tongban-gateway.json"
OPERATIONS = REPO / "docs" / "operations.md"
NAME = re.compile(r"\btongban_\w+")


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:  # a skipped check is a failed one
        pytest.fail("promtool is not installed: apt-get install prometheus (CI installs it in .ci/run)")
    return promtool


def _alerts() -> list[dict[str, Any]]:
    """Each rule of alerts.yml as {alert, expr, for, labels..., annotations...}, read line by line.

    PyYAML is not a dependency; the file's layout (one rule per ``- alert:`` item, block scalars for long
    expressions) is simple enough, and promtool checks the real YAML semantics.
    """
    rules: list[dict[str, Any]] = []
    lines = ALERTS.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:- )?(\w+):\s*(.*)$", line)
        i += 1
        if m is None:
            continue
        indent, key, value = len(m.group(1)), m.group(2), m.group(3)
        if key == "alert":
            rules.append({"alert": value})
            continue
        if not rules:
            continue
        if value in {"|", ">"}:
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            value = " ".join(block)
        rules[-1][key] = value.strip().strip('"')
    return rules


def _dashboard_queries(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"expr", "definition"} and isinstance(value, str):
                out.append(value)
            elif key == "query" and isinstance(value, dict | str):
                out.extend([value] if isinstance(value, str) else _dashboard_queries(value))
            else:
                out.extend(_dashboard_queries(value))
    elif isinstance(node, list):
        for item in node:
            out.extend(_dashboard_queries(item))
    return out


def test_alert_rules_pass_promtool() -> None:
    done = subprocess.run([_promtool(), "check", "rules", str(ALERTS)], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_every_alert_is_complete_and_queries_known_metrics() -> None:
    rules = _alerts()
    assert len(rules) >= 8
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^#+\s+(.+)$", OPERATIONS.read_text(encoding="utf-8"), re.MULTILINE)
    }
    for rule in rules:
        name = rule["alert"]
        assert {"expr", "for", "severity", "summary", "description", "runbook"} <= rule.keys(), name
        used = set(NAME.findall(rule["expr"]))
        assert used and used <= METRIC_NAMES, f"{name}: unknown metric(s) {used - METRIC_NAMES}"
        assert rule["runbook"].split("#")[1] in anchors, f"{name}: runbook anchor missing in docs/operations.md"
    wanted = {
        "tongban_outbox_oldest_age_seconds",
        "tongban_dead_letters_total",
        "tongban_breaker_state",
        "tongban_key_expiry_seconds",
        "tongban_auth_refusals_total",
        "tongban_bad_reviews_total",
        "tongban_sync_last_success_timestamp_seconds",
        "tongban_message_log_seal_age_seconds",
    }
    assert wanted <= {n for rule in rules for n in NAME.findall(rule["expr"])}


def test_dashboard_parses_and_queries_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "tongban-gateway" and dashboard["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    queries = _dashboard_queries(dashboard)
    used = {n for q in queries for n in NAME.findall(q)}
    assert used <= METRIC_NAMES, used - METRIC_NAMES
    for wanted in (
        "tongban_requests_total",
        "tongban_request_duration_seconds_bucket",
        "tongban_outbox_depth",
        "tongban_breaker_state",
        "tongban_key_expiry_seconds",
        "tongban_sync_progress_ratio",
        "tongban_bad_reviews_total",
        "tongban_dead_letters_total",
        "tongban_refusals_total",
        "tongban_delivery_latency_seconds_bucket",
        "tongban_sync_last_run_items",
        "tongban_sync_last_success_timestamp_seconds",
    ):
        assert wanted in used
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def _without_annotations(text: str) -> str:
    """The rules with their annotations removed: promtool compares annotations exactly, and the test is about the
    expressions, ``for:`` and labels (``promtool check rules`` above checks the annotation templates)."""
    out: list[str] = []
    skip_deeper_than: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None and (not line.strip() or indent > skip_deeper_than):
            continue
        skip_deeper_than = indent if line.strip() == "annotations:" else None
        if skip_deeper_than is None:
            out.append(line)
    return "\n".join(out) + "\n"


def test_alerts_fire_on_the_first_events_of_series_that_start_absent(tmp_path: Path) -> None:
    """ops/prometheus/alerts_test.yml: promtool's rule unit tests, series starting absent as in a real scrape."""
    promtool = _promtool()
    (tmp_path / "alerts.yml").write_text(_without_annotations(ALERTS.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yml")
    done = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_every_alert_has_a_unit_test_in_which_it_fires() -> None:
    text = ALERT_TESTS.read_text(encoding="utf-8")
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", text))
    assert {rule["alert"] for rule in _alerts()} <= firing
    assert re.search(r"values: '_x\d+ ", text)  # series that start absent


def test_the_unit_tests_fail_on_rules_that_miss_a_series_appearing_at_its_value(tmp_path: Path) -> None:
    """The old dead-letter rule (a bare increase()) misses three dead letters that appear as a new series at 3:
    the unit tests must notice, or they prove nothing."""
    promtool = _promtool()
    old = "sum by (destination, code) (increase(tongban_dead_letters_total[30m])) > 0"
    rules = _without_annotations(ALERTS.read_text(encoding="utf-8"))
    start = rules.index("alert: TongbanDeadLettersRising")
    expr_start = rules.index("expr: |", start)
    expr_end = rules.index("for:", expr_start)
    rules = rules[:expr_start] + f"expr: {old}\n        " + rules[expr_end:]
    (tmp_path / "alerts.yml").write_text(rules, encoding="utf-8")
    shutil.copy(ALERT_TESTS, tmp_path / "alerts_test.yml")
    done = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "TongbanDeadLettersRising" in done.stdout.decode() + done.stderr.decode()
