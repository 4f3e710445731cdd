"""The catalogue sync end to end on this machine: a full sync of 142,000 items, then an incremental one (1 % changed).

Run: ``.venv/bin/python bench/sync.py [--size 142000] [--changed 0.01] [--profile] [--tracemalloc]``.

Three processes, so each figure is the gateway's own:

- the **simulators** (hefei with a lazy ``Catalogue`` of ``--size`` items, and yrd-map) run in a child process on
  free loopback ports; they take their commands (``mutate``) on stdin;
- each **sync** runs ``gateway sync`` (``run_sync_command``) in its own child process on a configuration file
  written for the run (SQLite store, development credentials in a temporary folder); it reports its wall time and
  its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``) as one JSON line; with ``--tracemalloc`` it also reports the
  peak of Python allocations (tracemalloc slows it down, so its seconds are not the headline);
- this process orchestrates and, before that, measures the per-batch costs in isolation: reading an Anhui page
  (1,000 items), hashing 1,000 items, rendering a 500-item ``ItemBatch`` in GB18030, and its XMLDSig signature.

Goals: full ≤ 60 s, incremental ≤ 5 s, peak memory ≤ 300 MB. ``--profile`` writes a cProfile of the full sync
to ``bench/sync-full.prof`` (and prints the top entries; do not commit it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.base import Envelope
from adapters.g60.roles import load_link
from adapters.g60.scheme import sign_rendered
from gateway.config import DEFAULT_CONFIG, load_config
from gateway.links import gateway_link_settings
from gateway.model.records import ItemBatch
from gateway.model.timefmt import BEIJING
from gateway.simulate.catalogue import Catalogue
from gateway.simulate.run import start_simulators, stop_simulators
from gateway.sync.cli import add_sync_arguments, run_sync_command
from gateway.sync.state import content_hash

ROOT = Path(__file__).resolve().parents[1]


# --- child: the simulators --------------------------------------------------------------------------------------
async def _serve_simulators(config_path: Path, size: int) -> None:

    config = load_config(config_path)
    catalogue = Catalogue(seed=1, size=size)
    running = await start_simulators(
        config, ["hefei", "yrd-map"], port_base=None, clock=time.time, options={"hefei": {"catalogue": catalogue}}
    )
    print(json.dumps({r.platform: r.url for r in running}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command, *rest = line.split()
        if command == "mutate":
            touched = catalogue.mutate(float(rest[0]), seed=int(rest[1]), now=time.time())
            print(json.dumps({"mutated": len(touched)}), flush=True)
        elif command == "cpu":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            print(json.dumps({"cpu_seconds": usage.ru_utime + usage.ru_stime}), flush=True)
    await stop_simulators(running)


# --- child: one sync --------------------------------------------------------------------------------------------
def _run_sync(config_path: Path, sync_args: list[str], profile: Path | None, trace: bool) -> None:

    if trace:
        tracemalloc.start()
    parser = argparse.ArgumentParser()
    add_sync_arguments(parser)
    args = parser.parse_args(sync_args)
    config = load_config(config_path)
    start = time.perf_counter()
    if profile is not None:
        profiler = cProfile.Profile()
        status = profiler.runcall(run_sync_command, config, args)
        profiler.dump_stats(profile)
    else:
        status = run_sync_command(config, args)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "status": status,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mb": usage.ru_maxrss / 1024,
    }
    if trace:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print("BENCH " + json.dumps(result), file=sys.stderr, flush=True)


# --- parent -----------------------------------------------------------------------------------------------------
def _write_config(folder: Path, urls: dict[str, str] | None) -> Path:
    data: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    lines = [DEFAULT_CONFIG.read_text(encoding="utf-8")]
    path = folder / ("gateway.toml" if urls else "simulators.toml")
    text = lines[0].replace('url = "sqlite:///var/gateway.db"', f'url = "sqlite:///{folder}/gateway.db"')
    text = text.replace('credentials = "var/dev"', f'credentials = "{folder}/dev"')
    text = text.replace('token_file = "var/dev/admin-token"', f'token_file = "{folder}/dev/admin-token"')
    for pid, url in (urls or {}).items():
        old = data["platforms"][pid]["base_url"]
        text = text.replace(f'base_url = "{old}"', f'base_url = "{url}"')
    path.write_text(text, encoding="utf-8")
    return path


def _micro(folder: Path) -> dict[str, float]:
    """Per-batch costs of the gateway's side, each measured alone (milliseconds)."""

    config = load_config(folder / "simulators.toml")
    registry = config.registry
    items = Catalogue(seed=1, size=142_000).page(1, 1000).items
    anhui, g60 = registry.adapter("anhui"), registry.adapter("g60")
    now = datetime.now(BEIJING)
    page_bytes = anhui.encode("item", ItemBatch(items), Envelope("m", now, "m"), None)
    batch = ItemBatch(items[:500])
    envelope = Envelope("m", now, "m", "TONGBAN", "YRDMAP")
    links = gateway_link_settings(registry, config.base_dir, config.dev_credentials, config.source)
    signer = load_link(links["yrd-map"].settings, links["yrd-map"].base).signer
    rendered = g60.encode("item", batch, envelope)

    def ms(fn: Any, n: int = 5) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - start) / n * 1000

    return {
        "anhui_page_decode_1000_ms": ms(lambda: anhui.decode("item", page_bytes)),
        "content_hash_1000_ms": ms(lambda: [content_hash(i) for i in items]),
        "g60_render_gb18030_500_ms": ms(lambda: g60.encode("item", batch, envelope)),
        "gb18030_encode_only_500_ms": ms(lambda: rendered.decode("gb18030").encode("gb18030")),
        "xmldsig_sign_500_ms": ms(lambda: sign_rendered(rendered, signer)),
        "batch_bytes_500": float(len(rendered)),
    }


def _sync(folder: Path, args: list[str], profile: Path | None = None, trace: bool = False) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child-sync",
        str(folder / "gateway.toml"),
        "--",
        *args,
        "--progress",
        "none",
        "--json",
    ]
    if profile is not None:
        command[2:2] = ["--child-profile", str(profile)]
    if trace:
        command[2:2] = ["--child-trace"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)
    bench_line = next((line for line in done.stderr.splitlines() if line.startswith("BENCH ")), None)
    if bench_line is None:
        raise SystemExit(f"the sync child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(bench_line[6:])
    report = json.loads(done.stdout)
    result["counts"] = report["counts"]
    result["pages"], result["batches"] = report["pages"], report["batches"]
    result["items_per_s"] = (sum(report["counts"].values())) / result["seconds"]
    return result


def _ask(sims: subprocess.Popen[str], command: str) -> dict[str, Any]:
    """One command to the simulators' process, one JSON line back."""
    assert sims.stdin is not None and sims.stdout is not None
    sims.stdin.write(command + "\n")
    sims.stdin.flush()
    answer: dict[str, Any] = json.loads(sims.stdout.readline())
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=142_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
        folder = Path(tmp)
        sims_config = _write_config(folder, None)
        micro = _micro(folder)  # also generates the development credentials once
        sims = subprocess.Popen(
            [sys.executable, __file__, "--child-simulators", str(sims_config), str(args.size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=folder,
        )
        assert sims.stdin is not None and sims.stdout is not None
        try:
            urls = json.loads(sims.stdout.readline())
            _write_config(folder, urls)
            profile = ROOT / "bench" / "sync-full.prof" if args.profile else None
            sims_cpu = _ask(sims, "cpu")["cpu_seconds"]
            full = _sync(folder, ["--from", "hefei", "--to", "yrd-map", "--full"], profile)
            full["simulators_cpu_seconds"] = _ask(sims, "cpu")["cpu_seconds"] - sims_cpu
            mutated = _ask(sims, f"mutate {args.changed} 1")["mutated"]
            sims_cpu = _ask(sims, "cpu")["cpu_seconds"]
            incremental = _sync(folder, ["--from", "hefei", "--to", "yrd-map"])
            incremental["simulators_cpu_seconds"] = _ask(sims, "cpu")["cpu_seconds"] - sims_cpu
            traced = None
            if args.tracemalloc:
                _ask(sims, f"mutate {args.changed} 2")
                traced = _sync(folder, ["--from", "hefei", "--to", "yrd-map"], trace=True)
        finally:
            sims.stdin.close()
            sims.wait(timeout=30)
    print(
        json.dumps(
            {
                "size": args.size,
                "cpus": os.cpu_count(),
                "micro": micro,
                "full": full,
                "mutated": mutated,
                "incremental": incremental,
                "incremental_tracemalloc": traced,
            },
            indent=2,
        )
    )
    if profile is not None:
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-simulators":
        asyncio.run(_serve_simulators(Path(sys.argv[2]), int(sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        argv = sys.argv[1:]
        profile_path = Path(argv[argv.index("--child-profile") + 1]) if "--child-profile" in argv else None
        config_file = Path(argv[argv.index("--child-sync") + 1])
        _run_sync(config_file, argv[argv.index("--") + 1 :], profile_path, "--child-trace" in argv)
    else:
        main()
