"""The ``gateway`` command: serve, translate, check-config.

Exit status: 0 on success, 2 when an input was refused (its problem document is printed as one JSON line on
stderr), 1 when the configuration or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import Config, load_config
from gateway.errors import ConfigError, Rejection
from gateway.translate import make_envelope, read_input, translate

__all__ = ["main"]

RECORD_TYPES = ("item", "case", "status", "licence", "evaluation")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Tongban Gateway (通办网关)")
    parser.add_argument("--config", help="configuration file (default: config/gateway.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway server")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                       help="override logging.level")

    tr = sub.add_parser("translate", help="translate messages between dialects (checks a mapping)")
    tr.add_argument("--from", dest="source", required=True, help="source dialect or platform id")
    tr.add_argument("--to", dest="destination", required=True, help="destination dialect or platform id")
    tr.add_argument("--type", dest="record_type", required=True, choices=RECORD_TYPES)
    tr.add_argument("files", nargs="+", help="input files, or - for standard input")
    tr.add_argument("--out-dir", type=Path, help="write DIR/<stem>.json|.xml per input (and <stem>.problem.json)")

    sim = sub.add_parser("simulate", help="run platform simulators (real servers following each document)")
    sim.add_argument("platforms", nargs="*", help="platform ids (default: all configured platforms)")
    sim.add_argument("--port-base", type=int, default=9101, help="first port; platforms take consecutive ports")
    for name in ("error-rate", "latency-ms", "throttle-rate", "drop-rate"):
        sim.add_argument(f"--{name}", type=float, default=0.0, help=f"fault injection: {name.replace('-', ' ')}")

    outbox = sub.add_parser("outbox", help="inspect and repair the outbox (dead letters)")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    ls = outbox_sub.add_parser("list", help="list outbox messages")
    ls.add_argument("--state", choices=["pending", "delivering", "delivered", "dead"])
    ls.add_argument("--destination")
    ls.add_argument("--limit", type=int, default=100)
    for verb, text in (("show", "one message, personal data masked"), ("retry", "put a dead letter back"),
                       ("discard", "delete a dead letter")):
        one = outbox_sub.add_parser(verb, help=text)
        one.add_argument("id")

    sync = sub.add_parser("sync", help="sync the provincial catalogue to the service map (incremental, resumable)")
    from gateway.sync.cli import add_sync_arguments  # noqa: PLC0415

    add_sync_arguments(sync)

    logp = sub.add_parser("log", help="the tamper-evident message log: verify, search, export")
    log_sub = logp.add_subparsers(dest="log_command", required=True)
    log_sub.add_parser("verify", help="check the hash chain and every seal; report the first problem")
    search = log_sub.add_parser("search", help="entries of a case or a licence (masked unless --reveal)")
    search.add_argument("--case-no")
    search.add_argument("--licence-id")
    search.add_argument("--reveal", action="store_true", help="decrypt the messages with the configured data key")
    export = log_sub.add_parser("export", help="write sealed segments to a self-contained file")
    export.add_argument("out", type=Path)
    export.add_argument("--first-seal", type=int)
    export.add_argument("--last-seal", type=int)
    offline = log_sub.add_parser("verify-export", help="verify an exported file offline with the seal public key")
    offline.add_argument("file", type=Path)
    offline.add_argument("--jwks", type=Path, help="trusted seal keys (JWKS); default: the configured seal key")

    demo = sub.add_parser("demo", help="simulators + gateway on the embedded default, a realistic stream, a summary")
    demo.add_argument("--once", action="store_true", help="stop after the summary instead of running on")
    demo.add_argument("--port-base", type=int, default=9101, help="first simulator port (consecutive ports)")

    check = sub.add_parser("check-config", help="validate a configuration file without starting")
    check.add_argument("file", nargs="?", help="configuration file (default: --config or config/gateway.toml)")
    return parser


def _read(name: str, limit: int) -> bytes:
    """The input, read no further than one byte past the source dialect's body limit (``read_input``)."""
    if name == "-":
        return read_input(sys.stdin.buffer, limit)
    with Path(name).open("rb") as fh:
        return read_input(fh, limit)


def _translate(config: Config, args: argparse.Namespace) -> int:
    registry = config.registry
    dst_dialect, dst_platform = registry.resolve(args.destination)
    src_dialect, _ = registry.resolve(args.source)
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
            body = _read(name, registry.adapter(src_dialect).body_limit)
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
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from gateway.observability.logging import configure_logging, logging_settings  # noqa: PLC0415
    from gateway.server import create_app  # noqa: PLC0415
    from gateway.server.run import serve_until_stopped  # noqa: PLC0415

    chosen = logging_settings(config.raw, config.source, level=getattr(args, "log_level", None))
    configure_logging(chosen.level, sys.stderr, chosen.format)  # one masked JSON object (or plain line) per record
    announce = logging.getLogger("gateway.server").info  # "Running on" too goes through the logger (JSON stream)
    # no per-request access log: request outcomes and latency are metrics, and masking every access line in JSON
    # cost 15 % of a request's CPU; refusals and failures are logged where they happen

    async def run() -> None:
        await serve_until_stopped(create_app(config), config, host=args.host, port=args.port,
                                  announce=announce)

    asyncio.run(run())
    return 0


def _simulate(config: Config, args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from gateway.simulate.run import start_simulators, stop_simulators  # noqa: PLC0415

    async def run() -> None:
        running = await start_simulators(config, args.platforms, port_base=args.port_base, clock=time.time)
        for sim in running:
            sim.plan.update({"error_rate": args.error_rate, "latency_ms": args.latency_ms,
                             "throttle_rate": args.throttle_rate, "drop_rate": args.drop_rate})
            print(f"{sim.platform:10} {sim.url}", file=sys.stderr)
        try:
            await asyncio.Event().wait()
        finally:
            await stop_simulators(running)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


def _outbox(config: Config, args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from gateway.msglog.errors import DecryptionFailed  # noqa: PLC0415
    from gateway.pipeline import operator  # noqa: PLC0415
    from gateway.sealed_store import open_configured_store  # noqa: PLC0415

    async def guarded() -> int:
        try:
            return await run()
        except DecryptionFailed as exc:  # the payloads are sealed with the gateway's [message_log] data key
            print(f"gateway outbox: {exc}; use the gateway's own [message_log] key", file=sys.stderr)
            return 1

    async def run() -> int:
        store = await open_configured_store(config)
        try:
            if args.outbox_command == "list":
                items = await operator.list_summaries(store, state=args.state, destination=args.destination,
                                                      limit=args.limit)
                for item in items:
                    print(json.dumps(item, ensure_ascii=False))
                return 0
            if args.outbox_command == "show":
                found = await operator.show(store, args.id)
                if found is None:
                    print(f"gateway outbox: no message {args.id}", file=sys.stderr)
                    return 1
                print(json.dumps(found, ensure_ascii=False, indent=2))
                return 0
            if args.outbox_command == "retry":
                done = await operator.retry(store, args.id, time.time())
            else:
                done = await operator.discard(store, args.id)
            if not done:
                print(f"gateway outbox: {args.id} is not a dead letter", file=sys.stderr)
                return 1
            print(f"{args.outbox_command}: {args.id}")
            return 0
        finally:
            await store.close()

    return asyncio.run(guarded())


def _log(config: Config, args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from gateway.msglog.errors import MessageLogError  # noqa: PLC0415
    from gateway.msglog_cli import run_log_command  # noqa: PLC0415
    from gateway.store.errors import StoreError  # noqa: PLC0415

    try:
        return asyncio.run(run_log_command(config, args, sys.stdout))
    except (MessageLogError, StoreError, OSError) as exc:
        print(f"gateway log: {exc}", file=sys.stderr)
        return 1


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
        if args.command == "simulate":
            return _simulate(config, args)
        if args.command == "outbox":
            return _outbox(config, args)
        if args.command == "log":
            return _log(config, args)
        if args.command == "sync":
            from gateway.sync.cli import run_sync_command  # noqa: PLC0415

            return run_sync_command(config, args)
        if args.command == "demo":
            from gateway.demo import run_demo  # noqa: PLC0415

            return run_demo(config, once=args.once, out=sys.stdout, port_base=args.port_base)
        return _serve(config, args)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
