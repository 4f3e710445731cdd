"""``bench/pipeline.py`` runs end to end on both stores and every phase it reports did its work without an error.

Why a test for a benchmark: docs/performance.md quotes its lines (intake, drain, their floors, one and two workers)
as the measure of issue 15; a bench that breaks silently (a floor server that refuses every request, a drain that
never empties) would print numbers that mean nothing. Timings are not checked, only that each figure was measured.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from commands_support import REPO

REQUESTS = 120


@pytest.mark.postgres
def test_the_pipeline_bench_measures_every_phase_on_both_stores() -> None:
    argv = [sys.executable, "bench/pipeline.py", "--requests", str(REQUESTS), "--store", "sqlite,postgres", "--json"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    results = json.loads(lines[-1])
    assert [r["store"] for r in results] == ["sqlite", "postgres"]
    backlog = 300 + REQUESTS + REQUESTS // 2  # warm-up, full load and half load: all routed to g60
    for r in results:
        assert r["intake"]["n"] == REQUESTS and r["intake"]["errors"] == 0
        assert r["half_load"]["errors"] == 0
        assert r["floor"]["n"] == REQUESTS and r["floor"]["errors"] == 0
        assert r["workers"]["errors"] == 0
        assert r["drain"]["messages"] == backlog
        assert r["drain_floor"]["errors"] == 0 and r["drain_floor_log"]["errors"] == 0
        measured = ("intake", "floor", "drain", "drain_floor", "drain_floor_log", "mandatory", "drain_mandatory")
        for figures in (r[name] for name in measured):
            assert figures["cpu_us" if "cpu_us" in figures else "total"] > 0
    for line in ("intake: ", "  floor: ", "drain: ", "workers  1: ", "  floor with a real message log: "):
        assert sum(text.startswith(line) for text in lines) == (4 if line == "  floor: " else 2), line
