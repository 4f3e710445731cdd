"""``gateway translate`` reads no further than the source dialect's body limit (issue 11 item 8).

``gateway translate /dev/zero`` (or an endless stdin) read until memory ran out; now it stops one byte past the limit
and refuses ``BODY_TOO_LARGE`` like any too large body. A real subprocess, with its address space capped at 1 GiB so
that a regression fails fast instead of taking the machine's memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARGS = [sys.executable, "-m", "gateway.cli", "translate", "--from", "anhui", "--to", "g60", "--type", "case"]


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("source", ["path", "stdin"])
def test_an_endless_input_is_refused_body_too_large(source: str) -> None:
    with open("/dev/zero", "rb") as zero:
        result = subprocess.run(
            [*ARGS, "/dev/zero" if source == "path" else "-"],
            cwd=REPO,
            stdin=zero,
            capture_output=True,
            timeout=60,
            check=False,
            preexec_fn=_cap_memory,
        )
    assert result.returncode == 2, result.stderr[-2000:]
    problem = json.loads(result.stderr.decode().strip().splitlines()[-1])
    assert problem["code"] == "BODY_TOO_LARGE"
