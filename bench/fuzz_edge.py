"""The edge fuzzer, long: the property of ``tests/wire/test_fuzz_edge.py`` for as many examples as asked.

    python bench/fuzz_edge.py --examples 20000 [--dialect g60 ...]

Prints, per dialect, the examples run, the answers judged, and every breach (a 5xx fault or an answer not signed as
the dialect signs); exits 1 when there is one. The examples are spread over the dialects' partners and endpoints as
in the test (``tests/wire/edge_fuzz.py``); the gateway runs in-process on loopback with a SQLite store in a
temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bench/ holds modules named like the packages (bench/signing.py): run from the repository root, not from bench/
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.append(str(REPO / "tests" / "wire"))  # appended: tests/ holds folders named like the packages

from edge_fuzz import DIALECT_PARTNERS, Mutation, mutations, prepare_credentials, start_rig  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SAMPLES = REPO / "tests" / "data" / "platforms" / "samples"  # the carried copy (tests/data/PROVENANCE.md)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per dialect (default 2000)")
    parser.add_argument("--dialect", action="append", choices=sorted(DIALECT_PARTNERS), help="only these dialects")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="the platforms' golden samples")
    args = parser.parse_args(argv)
    dialects = args.dialect or sorted(DIALECT_PARTNERS)
    breaches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-edge-") as folder:
        dev = Path(folder)
        prepare_credentials(dev)
        loop = asyncio.new_event_loop()
        pids = tuple(p for d in dialects for p in DIALECT_PARTNERS[d])
        rig = loop.run_until_complete(start_rig(dev, f"sqlite:///{dev / 'gateway.db'}", args.samples, pids))
        try:
            for dialect in dialects:
                started, examples, answers = time.perf_counter(), rig.examples, rig.answers

                @settings(
                    max_examples=args.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
                )
                @given(st.sampled_from(DIALECT_PARTNERS[dialect]), st.floats(0, 1, exclude_max=True), mutations())
                def one(pid: str, call: float, mutation: Mutation) -> None:
                    found = loop.run_until_complete(rig.run(pid, call, mutation))
                    breaches.extend(found)
                    assert not found, found

                with contextlib.suppress(AssertionError):  # shrunk; the breaches found on the way are listed below
                    one()
                print(
                    f"{dialect}: {rig.examples - examples} examples, {rig.answers - answers} answers judged, "
                    f"{time.perf_counter() - started:.1f} s"
                )
        finally:
            loop.run_until_complete(rig.close())
            loop.close()
    for breach in sorted(set(breaches)):
        print("BREACH", breach)
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
