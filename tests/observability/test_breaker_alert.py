"""The breaker alert holds through failed probes: the gauge now shows each half-open probe as it happens, so an
expression on "open" alone (== 2) would restart its ``for:`` at every probe and never fire. Checked with promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from gateway.delivery import BreakerState
from gateway.observability.metrics import BREAKER_LEVELS

ALERTS = Path(__file__).resolve().parents[2] / "ops" / "prometheus" / "alerts.yml"


def test_a_breaker_cycling_through_failed_probes_alerts_and_a_recovered_one_does_not(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is needed (Debian package 'prometheus')"
    opened, probing = BREAKER_LEVELS[BreakerState.OPEN.value], BREAKER_LEVELS[BreakerState.HALF_OPEN.value]
    flapping = " ".join(str(opened if minute % 2 else probing) for minute in range(40))
    recovered = " ".join(str(opened if minute < 10 else 0) for minute in range(40))
    tests = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'tongban_breaker_state{destination="g60"}', "values": flapping},
                    {"series": 'tongban_breaker_state{destination="hefei"}', "values": recovered},
                ],
                "alert_rule_test": [
                    {"eval_time": "14m", "alertname": "TongbanBreakerOpenLong", "exp_alerts": []},
                    {
                        "eval_time": "30m",
                        "alertname": "TongbanBreakerOpenLong",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "destination": "g60"},
                                "exp_annotations": _annotations("g60"),
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "breaker_test.yml"
    test_file.write_text(json.dumps(tests), encoding="utf-8")  # JSON is YAML
    done = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def _annotations(destination: str) -> dict[str, str]:
    return {
        "summary": f"Circuit breaker for {destination} not closed for 15 minutes",
        "description": f"The gateway has stopped sending to {destination} because its recent attempts failed (its "
        "probes keep failing). Messages queue in the outbox until it recovers; the other platforms "
        "are served as usual.",
        "runbook": "docs/operations.md#tongbanbreakeropenlong",
    }
