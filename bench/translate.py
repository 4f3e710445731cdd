"""Translation throughput per dialect pair, beside the cost of merely parsing and serialising the same bytes.

    python bench/translate.py [--records 10000] [--types case,status]

For every (source, destination) pair carrying the record type, ~N generated records (variants of the published
samples: every case gets its own case number, version, applicant name and material list) are encoded in the
source dialect once; the timed loop then runs the full ``translate`` (README §10 checks, mapping, rules, encoding)
on each. The baseline, timed in the same run on the same bytes, is what any gateway must pay at least: parse the
source bytes and serialise the result (``json`` or ``lxml``). The ratio baseline/translate says how much the
checks and mapping cost on top. Each figure is the best of ``--repeat`` runs: the hosts are noisy virtual machines.
Goals (issue 2): ≥ 10,000 records/s for JSON↔JSON pairs, ≥ 5,000/s with XML.

Then the command-line case (issue 15 item 5): ``gateway translate --out-dir`` over ``--files`` message files
(``gateway.cli.main`` in this process, configuration loading included) against reading, parsing, serialising and
writing the same files with json/lxml, both on tmpfs (``/dev/shm``) in the same run, as CPU time from the OS, for
anhui→zlb, zlb→hunan, anhui→g60 and g60→shanghai. Goals: ≥ 0.5 JSON→JSON, ≥ 0.35 with XML on either side.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adapters.base import Envelope  # noqa: E402
from gateway.cli import main as gateway_main  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.model.records import Material  # noqa: E402
from gateway.translate import make_envelope, translate  # noqa: E402

SAMPLES = REPO / "tests" / "data" / "platforms" / "samples"
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def variants(record: object, n: int) -> list[object]:
    out = []
    for i in range(n):
        changes: dict[str, object] = {}
        if hasattr(record, "case_no"):
            changes["case_no"] = f"BENCH{i:010d}"
        if hasattr(record, "version"):
            changes["version"] = 1 + i % 50
        if hasattr(record, "seq"):
            changes["seq"] = 1 + i % 50
        if hasattr(record, "materials") and hasattr(record, "applicant"):
            changes["materials"] = tuple(Material(f"材料{j}", 1 + j) for j in range(i % 4))
            changes["applicant"] = replace(record.applicant, name=f"{record.applicant.name}{i % 97}")  # type: ignore[attr-defined]
        out.append(replace(record, **changes) if changes else record)  # type: ignore[type-var]
    return out


def _reference_conversion(body: bytes, xml_in: bool, xml_out: bool) -> bytes:
    """The least any converter does to one body: parse it with json/lxml and serialise a result in the other form."""
    if xml_in:
        tree = etree.fromstring(body, XML_PARSER)
        return etree.tostring(tree, encoding="utf-8") if xml_out else json.dumps({"x": tree.tag}).encode()
    obj = json.loads(body)
    if not xml_out:
        return json.dumps(obj, ensure_ascii=False).encode()
    root = etree.Element("r")
    for k, v in obj.items():
        etree.SubElement(root, "f").text = str(k) + str(v)[:10]
    return etree.tostring(root, encoding="utf-8")


def baseline(bodies: list[bytes], xml_in: bool, xml_out: bool) -> float:
    start = time.perf_counter()
    for body in bodies:
        _reference_conversion(body, xml_in, xml_out)
    return time.perf_counter() - start


def baseline_files(files: list[Path], out_dir: Path, xml_in: bool, xml_out: bool) -> None:
    """What any tool must do per file: read it, parse it, serialise a result, write it (``baseline`` per body)."""
    suffix = ".xml" if xml_out else ".json"
    for path in files:
        data = _reference_conversion(path.read_bytes(), xml_in, xml_out)
        (out_dir / f"{path.stem}{suffix}").write_bytes(data)


def _cpu() -> float:
    """This process's user + system CPU seconds, from the OS (``CLOCK_PROCESS_CPUTIME_ID``)."""
    return time.process_time()


def _cpu_timed(run: object) -> float:
    start = _cpu()
    run()  # type: ignore[operator]
    return _cpu() - start


CLI_PAIRS = (("anhui", "zlb"), ("zlb", "hunan"), ("anhui", "g60"), ("g60", "shanghai"))


def cli_case(registry: object, records: list[object], repeat: int) -> None:
    """``gateway translate`` over many files against read/parse/serialise/write of the same files (module doc)."""
    env = Envelope("bench", datetime.now(UTC), "bench", "TONGBAN", "G60")
    print(
        f"\n{'gateway translate --out-dir, ' + str(len(records)) + ' files on tmpfs':44} {'cli/s':>8} "
        f"{'baseline/s':>11} {'ratio':>6}  goal"
    )
    with tempfile.TemporaryDirectory(prefix="bench-translate-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        for src, dst in CLI_PAIRS:
            adapter = registry.adapter(src)  # type: ignore[attr-defined]
            folder = work / f"in-{src}"
            if not folder.exists():
                folder.mkdir()
                suffix = ".xml" if src in ("g60", "shanghai") else ".json"
                for i, record in enumerate(records):
                    body = adapter.encode("case", record, env, registry.item_codes(src, record))  # type: ignore[attr-defined]
                    (folder / f"m{i:06d}{suffix}").write_bytes(body)
            files = sorted(folder.iterdir())
            argv = ["translate", "--from", src, "--to", dst, "--type", "case", *map(str, files)]
            xml_in, xml_out = src in ("g60", "shanghai"), dst in ("g60", "shanghai")

            def cli(argv: list[str] = argv, out: Path = work / f"out-{src}-{dst}") -> None:
                shutil.rmtree(out, ignore_errors=True)
                with contextlib.redirect_stderr(io.StringIO()) as errors:
                    status = gateway_main([*argv, "--out-dir", str(out)])
                if status != 0:
                    raise SystemExit(f"gateway translate failed ({status}): {errors.getvalue()[:500]}")

            def base(
                files: list[Path] = files,
                out: Path = work / f"base-{src}-{dst}",
                xml: tuple[bool, bool] = (xml_in, xml_out),
            ) -> None:
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                baseline_files(files, out, *xml)

            # alternated, so that both see the same moments of a shared machine; each the best of its runs
            cli_s = base_s = float("inf")
            for _ in range(repeat):
                cli_s = min(cli_s, _cpu_timed(cli))
                base_s = min(base_s, _cpu_timed(base))
            goal = 0.35 if xml_in or xml_out else 0.5
            ratio = base_s / cli_s
            print(
                f"case {src:>9} -> {dst:<9}{'':25} {len(files) / cli_s:8.0f} {len(files) / base_s:11.0f} "
                f"{ratio:6.2f}  {goal} {'ok' if ratio >= goal else 'BELOW'}"
            )


def _timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--types", default="case,status")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (the host is noisy)")
    parser.add_argument("--files", type=int, default=2000, help="files per pair in the command-line case")
    parser.add_argument("--cli-only", action="store_true", help="only the command-line case")
    args = parser.parse_args()
    registry = load_config().registry
    env = Envelope("bench", datetime.now(UTC), "bench", "TONGBAN", "G60")
    with (SAMPLES / "INDEX.csv").open(encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    case = registry.adapter("anhui").decode("case", (SAMPLES / "anhui" / "case" / "SC002.json").read_bytes())
    if args.cli_only:
        cli_case(registry, variants(case, args.files), args.repeat)
        return
    print(f"{'type':8} {'source':9} {'dest':9} {'records/s':>10} {'baseline/s':>11} {'ratio':>6}  goal")
    for record_type in args.types.split(","):
        rows = [r for r in index if r["type"] == record_type and r["record_id"] in ("SC002", "SS002")]
        dialects = sorted({r["dialect"] for r in rows})
        sample = next(r for r in rows if r["dialect"] == "anhui")
        record = registry.adapter("anhui").decode(record_type, (SAMPLES / sample["file"]).read_bytes())
        records = variants(record, args.records)
        for src in dialects:
            adapter = registry.adapter(src)
            bodies = [adapter.encode(record_type, r, env, registry.item_codes(src, r)) for r in records]
            for dst in dialects:
                if dst == src:
                    continue
                xml_in, xml_out = src in ("g60", "shanghai"), dst in ("g60", "shanghai")
                _, platform = registry.resolve(dst)
                envelope = make_envelope(platform, datetime.now(UTC))

                def run(
                    src: str = src,
                    dst: str = dst,
                    rt: str = record_type,
                    env: Envelope = envelope,
                    bodies: list[bytes] = bodies,
                ) -> None:
                    for body in bodies:
                        translate(registry, src, dst, rt, body, env)

                elapsed = min(_timed(run) for _ in range(args.repeat))
                base = min(baseline(bodies, xml_in, xml_out) for _ in range(args.repeat))
                rate = len(bodies) / elapsed
                goal = 5_000 if xml_in or xml_out else 10_000
                mark = "ok" if rate >= goal else "BELOW"
                print(
                    f"{record_type:8} {src:9} {dst:9} {rate:10.0f} {len(bodies) / base:11.0f} "
                    f"{base / elapsed:6.2f}  {goal} {mark}"
                )
    cli_case(registry, variants(case, args.files), args.repeat)


if __name__ == "__main__":
    main()
