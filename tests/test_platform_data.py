"""The carried copy of the platforms' documents (tests/data/platforms) is whole, unedited, and still the original."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from platform_data import DATA, PLATFORMS, SHARED


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _listed() -> dict[str, str]:
    lines = (DATA / "platforms.sha256").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines if line.strip())}


def test_the_copy_matches_its_recorded_digests() -> None:
    listed = _listed()
    assert len(listed) > 50  # documents, samples, bad samples, code lists, crosswalk
    assert _tree(PLATFORMS) == listed


def test_the_provenance_note_names_the_origin() -> None:
    text = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "shared/platforms" in text
    assert "platforms.sha256" in text


def test_the_original_beside_the_checkout_equals_the_copy() -> None:
    """When ``../shared/platforms`` is present, a change there (a new version of a document) is drift to take over;
    on a fresh clone without it, the recorded digests above are what the copy is checked against."""
    if SHARED.is_dir():
        assert _tree(SHARED) == _tree(PLATFORMS), "../shared/platforms changed: copy it over (tests/data/PROVENANCE.md)"
    else:
        assert _tree(PLATFORMS) == _listed()


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["in-process", "xdist"])
def test_a_skipped_test_fails_the_run(tmp_path: Path, workers: list[str]) -> None:
    """The suite's conftest turns a skip into a failing exit status (a run of one skipping test in a copy of it),
    also when the tests run on xdist workers as the suite does (the skip is reported to the controlling process)."""
    tests = Path(__file__).resolve().parent
    shutil.copy(tests / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(tests / "platform_data.py", tmp_path / "platform_data.py")
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\ndef test_skips():\n    pytest.skip('why')\n\ndef test_passes():\n    assert True\n",
        encoding="utf-8",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 test(s) skipped" in done.stdout
    only_pass = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, "-k", "passes", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert only_pass.returncode == 0, only_pass.stdout + only_pass.stderr
