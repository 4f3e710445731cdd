"""``gateway translate`` and ``gateway check-config`` as operators run them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def gateway(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_one_file_goes_to_stdout(samples_dir: Path) -> None:
    result = gateway(
        "translate", "--from", "anhui", "--to", "g60", "--type", "case", str(samples_dir / "anhui/case/SC001.json")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b'<?xml version="1.0" encoding="GB18030"?>')
    assert "上海松江文化传媒有限公司".encode("gb18030") in result.stdout


def test_stdin_and_platform_ids(samples_dir: Path) -> None:
    body = (samples_dir / "zlb/status/SS001.json").read_bytes()
    result = gateway("translate", "--from", "ningbo", "--to", "changsha", "--type", "status", "-", stdin=body)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["case_no"] == "3302002405421339994"


def test_out_dir_translates_the_good_and_reports_the_bad(samples_dir: Path, tmp_path: Path) -> None:
    good = samples_dir / "anhui/case/SC002.json"
    bad = samples_dir / "bad/anhui-case-id-checksum.json"
    result = gateway(
        "translate",
        "--from",
        "anhui",
        "--to",
        "shanghai",
        "--type",
        "case",
        str(bad),
        str(good),
        "--out-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    line = result.stderr.decode().strip().splitlines()[-1]
    problem = json.loads(line)
    assert problem["code"] == "ID_CHECKSUM"
    assert problem["field"] == "APPLY_CARDNUMBER"
    assert (tmp_path / "SC002.xml").read_bytes().startswith(b"<?xml")
    assert json.loads((tmp_path / "anhui-case-id-checksum.problem.json").read_text())["code"] == "ID_CHECKSUM"
    assert not (tmp_path / "anhui-case-id-checksum.xml").exists()


def test_refused_input_prints_one_problem_line(samples_dir: Path) -> None:
    result = gateway(
        "translate",
        "--from",
        "g60",
        "--to",
        "anhui",
        "--type",
        "case",
        str(samples_dir / "bad/g60-case-billion-laughs.xml"),
    )
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["code"] == "XML_DTD_FORBIDDEN"


def test_unknown_platform_is_a_usage_error() -> None:
    result = gateway("translate", "--from", "atlantis", "--to", "anhui", "--type", "case", "-", stdin=b"{}")
    assert result.returncode == 1
    assert b"atlantis" in result.stderr


def test_check_config(tmp_path: Path) -> None:
    assert gateway("check-config").returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text('[store]\nurl = "mysql://x"\n[platforms.a]\ndialect = "anhui"\n', encoding="utf-8")
    result = gateway("check-config", str(broken))
    assert result.returncode == 1
    assert b"store.url" in result.stderr
    assert b"mysql://x" in result.stderr
