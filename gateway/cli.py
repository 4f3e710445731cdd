"""The ``gateway`` command: serve, translate, check-config.

Exit status: 0 on success, 2 when an input was refused (its problem document is printed as one JSON line on
stderr), 1 when the configuration or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import Config, load_config
from gateway.errors import ConfigError, Rejection
from gateway.translate import make_envelope, translate

__all__ = ["main"]

RECORD_TYPES = ("item", "case", "status", "licence", "evaluation")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Tongban Gateway (通办网关)")
    parser.add_argument("--config", help="configuration file (default: config/gateway.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway server")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")

    tr = sub.add_parser("translate", help="translate messages between dialects (checks a mapping)")
    tr.add_argument("--from", dest="source", required=True, help="source dialect or platform id")
    tr.add_argument("--to", dest="destination", required=True, help="destination dialect or platform id")
    tr.add_argument("--type", dest="record_type", required=True, choices=RECORD_TYPES)
    tr.add_argument("files", nargs="+", help="input files, or - for standard input")
    tr.add_argument("--out-dir", type=Path, help="write DIR/<stem>.json|.xml per input (and <stem>.problem.json)")

    check = sub.add_parser("check-config", help="validate a configuration file without starting")
    check.add_argument("file", nargs="?", help="configuration file (default: --config or config/gateway.toml)")
    return parser


def _read(name: str) -> bytes:
    return sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()


def _translate(config: Config, args: argparse.Namespace) -> int:
    registry = config.registry
    dst_dialect, dst_platform = registry.resolve(args.destination)
    registry.resolve(args.source)
    suffix = ".xml" if registry.adapter(dst_dialect).settings.get("syntax") == "xml" else ".json"
    if args.out_dir is None and len(args.files) > 1:
        print("gateway translate: several inputs need --out-dir", file=sys.stderr)
        return 1
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in args.files:
        stem = "stdin" if name == "-" else Path(name).stem
        try:
            body = _read(name)
        except OSError as exc:
            print(f"gateway translate: cannot read {name}: {exc.strerror}", file=sys.stderr)
            status = max(status, 1)
            continue
        envelope = make_envelope(dst_platform, datetime.now(UTC))
        try:
            out = translate(registry, args.source, args.destination, args.record_type, body, envelope)
        except Rejection as exc:
            problem = exc.to_problem(input=name)
            line = json.dumps(problem, ensure_ascii=False)
            print(line, file=sys.stderr)
            if args.out_dir is not None:
                (args.out_dir / f"{stem}.problem.json").write_text(line + "\n", encoding="utf-8")
            status = 2
            continue
        if args.out_dir is None:
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
        else:
            (args.out_dir / f"{stem}{suffix}").write_bytes(out)
    return status


def _serve(config: Config, args: argparse.Namespace) -> int:
    # Imported here so that translate and check-config start without loading the server stack.
    from aiohttp import web  # noqa: PLC0415

    from gateway.server import create_app  # noqa: PLC0415

    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    web.run_app(create_app(config), host=host, port=port, print=lambda msg: print(msg, file=sys.stderr))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            config = load_config(args.file or args.config)
            print(f"{config.source}: OK ({len(config.registry.platforms)} platforms)")
            return 0
        config = load_config(args.config)
        if args.command == "translate":
            return _translate(config, args)
        return _serve(config, args)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
