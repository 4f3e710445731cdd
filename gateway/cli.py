"""The ``gateway`` command: serve, demo, traffic, simulate, translate, outbox, sync, log, console, check-config.

Exit status: 0 on success, 2 when an input was refused (its problem document is printed as one JSON line on
stderr), 1 when the configuration or the command line is wrong or a port cannot be listened on (one line naming it
and the setting to change), and for ``demo --once`` when anything is left pending or dead, for ``traffic`` when any
submission was not accepted.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from gateway.config import Config, load_config
from gateway.errors import ConfigError, GatewayError, Refusal
from gateway.ports import Listen, first_busy
from gateway.translate import Translator, envelope_parties, fresh_envelope, read_input, read_path, write_path

__all__ = ["main"]

RECORD_TYPES = ("item", "case", "status", "licence", "evaluation")
DEFAULT_PARTNERS = ("ningbo", "changsha", "songjiang", "hefei")  # gateway traffic's default senders


CONFIG_HELP = "configuration file (default: config/gateway.toml); accepted before or after the subcommand"


def _common() -> argparse.ArgumentParser:
    """``--config`` for every subcommand: operators write it after the subcommand (``gateway serve --config X``)
    as often as before it; SUPPRESS keeps a value given before the subcommand when none is given after."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return common


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return value


def _top(
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser], argparse.ArgumentParser]:
    """The ``gateway`` parser without its commands, the action they are added to, and the parent giving each its
    ``--config``."""
    parser = parser_class(prog="gateway", description="Tongban Gateway (通办网关)")
    parser.add_argument("--config", help=CONFIG_HELP)
    return parser, parser.add_subparsers(dest="command", required=True, parser_class=parser_class), _common()


def _translate_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    tr = sub.add_parser("translate", help="translate messages between dialects (checks a mapping)", parents=[common])
    tr.add_argument("--from", dest="source", required=True, help="source dialect or platform id")
    tr.add_argument("--to", dest="destination", required=True, help="destination dialect or platform id")
    tr.add_argument("--type", dest="record_type", required=True, choices=RECORD_TYPES)
    tr.add_argument("files", nargs="+", help="input files, or - for standard input")
    tr.add_argument("--out-dir", type=Path, help="write DIR/<stem>.json|.xml per input (and <stem>.problem.json)")


def _only_translate(argv: Sequence[str]) -> bool:
    """True when ``argv`` is ``[--config FILE | --config=FILE]... translate ...``, which ``_parse`` gives to the
    translate command's parser alone."""
    at = 0
    while at < len(argv):
        word = argv[at]
        if word == "translate":
            return True
        if word == "--config":
            at += 2
        elif word.startswith("--config="):
            at += 1
        else:
            return False
    return False


class _NotAlone(GatewayError):
    """The translate command's parser alone cannot answer (an error, help): the whole parser will."""


class _Silent(argparse.ArgumentParser):
    """A parser that prints nothing and, where argparse would exit, hands over to the whole parser."""

    def _print_message(self, message: str, file: Any = None) -> None:
        pass

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _NotAlone

    def error(self, message: str) -> NoReturn:
        raise _NotAlone


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, parsed. ``gateway translate ...`` is parsed by the translate command's parser alone: the
    other commands' ~20 parsers, with their gettext look-ups, were a third of a translate run's fixed cost (issue 15
    item 5). It gives the same namespace; for usage, help and errors, whose text names every command, the whole
    parser parses again and answers."""
    if _only_translate(argv):
        parser, sub, common = _top(_Silent)
        _translate_parser(sub, common)
        try:
            return parser.parse_args(argv)
        except _NotAlone:
            pass
    return _parser().parse_args(argv)


def _parser() -> argparse.ArgumentParser:
    parser, sub, common = _top()

    serve = sub.add_parser("serve", help="run the gateway server", parents=[common])
    serve.add_argument("--host", help="override server.host (e.g. 0.0.0.0 in a container)")
    serve.add_argument("--port", type=_port, help="override server.port (the plain listener)")
    serve.add_argument("--tls-port", type=_port, help="override server.tls_port (the mutual-TLS listener)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="gateway processes sharing the ports and the store: a number, or auto (one per CPU)",
    )
    serve.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="the event loop: uvloop where installed (auto, the default), or asyncio's own",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="override logging.level",
    )

    _translate_parser(sub, common)

    sim = sub.add_parser(
        "simulate", help="run platform simulators (real servers following each document)", parents=[common]
    )
    sim.add_argument("platforms", nargs="*", help="platform ids (default: all configured platforms)")
    sim.add_argument(
        "--port-base",
        type=_port,
        help="first port; platforms take consecutive ports in the registry's "
        "order (default: each where its base_url in the configuration says)",
    )
    for name in ("error-rate", "latency-ms", "throttle-rate", "drop-rate"):
        sim.add_argument(f"--{name}", type=float, default=0.0, help=f"fault injection: {name.replace('-', ' ')}")

    outbox = sub.add_parser("outbox", help="inspect and repair the outbox (dead letters)", parents=[common])
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    ls = outbox_sub.add_parser("list", help="list outbox messages", parents=[common])
    ls.add_argument("--state", choices=["pending", "delivering", "delivered", "dead"])
    ls.add_argument("--destination")
    ls.add_argument("--limit", type=int, default=100)
    for verb, text in (
        ("show", "one message, personal data masked"),
        ("retry", "put a dead letter back"),
        ("discard", "delete a dead letter"),
    ):
        one = outbox_sub.add_parser(verb, help=text, parents=[common])
        one.add_argument("id")

    sync = sub.add_parser(
        "sync", help="sync the provincial catalogue to the service map (incremental, resumable)", parents=[common]
    )
    from gateway.sync.cli import add_sync_arguments  # noqa: PLC0415

    add_sync_arguments(sync)

    logp = sub.add_parser("log", help="the tamper-evident message log: verify, search, export", parents=[common])
    log_sub = logp.add_subparsers(dest="log_command", required=True)
    log_sub.add_parser("verify", help="check the hash chain and every seal; report the first problem", parents=[common])
    search = log_sub.add_parser(
        "search", help="entries of a case or a licence (masked unless --reveal)", parents=[common]
    )
    search.add_argument("--case-no")
    search.add_argument("--licence-id")
    search.add_argument("--reveal", action="store_true", help="decrypt the messages with the configured data key")
    export = log_sub.add_parser("export", help="write sealed segments to a self-contained file", parents=[common])
    export.add_argument("out", type=Path)
    export.add_argument("--first-seal", type=int)
    export.add_argument("--last-seal", type=int)
    offline = log_sub.add_parser(
        "verify-export", help="verify an exported file offline with the seal public key", parents=[common]
    )
    offline.add_argument("file", type=Path)
    offline.add_argument("--jwks", type=Path, help="trusted seal keys (JWKS); default: the configured seal key")

    demo = sub.add_parser(
        "demo", help="simulators + gateway on the embedded default, a realistic stream, a summary", parents=[common]
    )
    demo.add_argument("--once", action="store_true", help="stop after the summary instead of running on")
    demo.add_argument(
        "--port-base",
        type=_port,
        help="move every port: simulators on N, N+1, ..., then the gateway's "
        "plain and mutual-TLS listeners (default: simulators on 9101..., the gateway on [server])",
    )
    demo.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outbox to drain (default 30)")
    demo.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="share of calls the simulators answer 503 (watch retries; pending at the end exits 1)",
    )

    traffic = sub.add_parser(
        "traffic", help="signed submissions from chosen partners to a running gateway serve", parents=[common]
    )
    traffic.add_argument(
        "--partners",
        default=",".join(DEFAULT_PARTNERS),
        help=f"comma-separated platform ids (default: {','.join(DEFAULT_PARTNERS)})",
    )
    traffic.add_argument("--rate", type=float, default=5.0, help="submissions per second, all partners (default 5)")
    traffic.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    traffic.add_argument("--concurrency", type=int, default=16, help="submissions in flight at most (default 16)")
    traffic.add_argument("--gateway", help="the gateway's plain base URL (default: http://server.host:server.port)")
    traffic.add_argument("--gateway-tls", help="its mutual-TLS base URL (default: https://server.host:tls_port)")

    _console_parser(sub, common)

    check = sub.add_parser("check-config", help="validate a configuration file without starting", parents=[common])
    check.add_argument("file", nargs="?", help="configuration file (default: --config or config/gateway.toml)")
    return parser


def _read(name: str, limit: int) -> bytes:
    """The input, read no further than one byte past the source dialect's body limit (``read_input``)."""
    if name == "-":
        return read_input(sys.stdin.buffer, limit)
    return read_path(name, limit)


def _stem(name: str) -> str:
    """``Path(name).stem``, without making a path object per input file (the common case: a last component that is
    a name; anything else, such as a trailing ``/`` or a ``.``, is left to pathlib)."""
    last = name.rpartition("/")[2]
    if last in ("", ".", ".."):
        return Path(name).stem
    dot = last.rfind(".")
    return last[:dot] if 0 < dot < len(last) - 1 else last


def _translate(config: Config, args: argparse.Namespace) -> int:
    """``gateway translate``: each input translated and written (or its problem printed) before the next is read.

    Per file this does only what the file needs: the route, the source's limit, the envelope's parties and the output
    folder are settled once (issue 15 item 5: over many files the command's own overheads weighed as much as the
    translation).
    """
    registry = config.registry
    dst_dialect, dst_platform = registry.resolve(args.destination)
    src_dialect, _ = registry.resolve(args.source)
    suffix = ".xml" if registry.adapter(dst_dialect).settings.get("syntax") == "xml" else ".json"
    if args.out_dir is None and len(args.files) > 1:
        print("gateway translate: several inputs need --out-dir", file=sys.stderr)
        return 1
    translator = Translator(registry, args.source, args.destination, args.record_type)
    out_dir = None
    if args.out_dir is not None:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        out_dir = os.path.join(args.out_dir, "")  # the folder with its separator: each output is out_dir + a name
    limit = registry.adapter(src_dialect).body_limit
    sender, receiver = envelope_parties(dst_platform)
    status = 0
    for name in args.files:
        try:
            body = _read(name, limit)
        except OSError as exc:
            print(f"gateway translate: cannot read {name}: {exc.strerror}", file=sys.stderr)
            status = max(status, 1)
            continue
        try:
            out = translator(body, fresh_envelope(sender, receiver))
        except Refusal as exc:
            problem = exc.to_problem(input=name)
            line = json.dumps(problem, ensure_ascii=False)
            print(line, file=sys.stderr)
            if out_dir is not None:
                stem = "stdin" if name == "-" else _stem(name)
                Path(f"{out_dir}{stem}.problem.json").write_text(line + "\n", encoding="utf-8")
            status = 2
            continue
        if out_dir is None:
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
        else:
            write_path(f"{out_dir}{'stdin' if name == '-' else _stem(name)}{suffix}", out)
    return status


def _workers(value: str) -> int:
    from gateway.server.workers import parse_workers  # noqa: PLC0415

    return parse_workers(value)


def _busy(listens: list[Listen]) -> int:
    """0 when every port can be bound; else the one line that names the port and what to change, and 1."""
    busy = first_busy(listens)
    if busy is None:
        return 0
    print(f"gateway: {busy.message()}", file=sys.stderr)
    return 1


def _serve(config: Config, args: argparse.Namespace) -> int:
    # Imported here so that translate and check-config start without loading the server stack.
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from gateway.observability.logging import configure_logging, logging_settings  # noqa: PLC0415
    from gateway.server import create_app  # noqa: PLC0415
    from gateway.server.run import serve_until_stopped  # noqa: PLC0415

    server = replace(
        config.server,
        host=config.server.host if args.host is None else args.host,
        port=config.server.port if args.port is None else args.port,
        tls_port=config.server.tls_port if args.tls_port is None else args.tls_port,
    )
    config = replace(config, server=server)
    listens = [Listen(server.host, server.port, f"server.port in {config.source} or pass serve --port N")]
    if server.tls_port is not None and server.tls_platform is not None:
        listens.append(
            Listen(server.host, server.tls_port, f"server.tls_port in {config.source} or pass serve --tls-port N")
        )
    if _busy(listens):
        return 1
    chosen = logging_settings(config.raw, config.source, level=getattr(args, "log_level", None))
    configure_logging(chosen.level, sys.stderr, chosen.format)  # one masked JSON object (or plain line) per record
    announce = logging.getLogger("gateway.server").info  # "Running on" too goes through the logger (JSON stream)
    # no per-request access log: request outcomes and latency are metrics, and masking every access line in JSON
    # cost 15 % of a request's CPU; refusals and failures are logged where they happen

    from gateway.server.loops import loop_factory, loop_name, run_loop  # noqa: PLC0415

    try:
        loop_factory(args.loop)
    except ValueError as exc:
        print(f"gateway serve: {exc}", file=sys.stderr)
        return 1
    if args.workers > 1:  # several whole gateways on the same ports (gateway/server/workers.py)
        from gateway.server.workers import serve_workers  # noqa: PLC0415

        return serve_workers(config, args.workers, announce, loop=args.loop)

    async def run() -> None:
        announce(f"event loop: {loop_name(asyncio.get_running_loop())}")
        await serve_until_stopped(await create_app(config), config, announce=announce)

    try:
        run_loop(run(), args.loop)
    except OSError as exc:  # taken between the check above and the listener's bind: still one line
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        print(
            f"gateway: cannot listen ({exc.strerror}); change server.host/port/tls_port in {config.source} or "
            "pass serve --host/--port/--tls-port",
            file=sys.stderr,
        )
        return 1
    return 0


def _simulate(config: Config, args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from gateway.simulate.run import configured_ports, start_simulators, stop_simulators  # noqa: PLC0415

    order = list(config.registry.platforms)
    chosen = [p for p in (args.platforms or order) if p in order]
    if args.port_base is None:
        ports = configured_ports(config)
        listens = [
            Listen(
                "127.0.0.1", ports.get(p, 0), f"platforms.{p}.base_url in {config.source}, or simulate --port-base N"
            )
            for p in chosen
        ]
    else:
        ports = {p: args.port_base + order.index(p) for p in chosen}
        listens = [Listen("127.0.0.1", ports[p], f"simulate --port-base (the {p} simulator)") for p in chosen]
    if _busy(listens):
        return 1

    async def run() -> None:
        running = await start_simulators(config, args.platforms, port_base=None, ports=ports, clock=time.time)
        for sim in running:
            sim.plan.update(
                {
                    "error_rate": args.error_rate,
                    "latency_ms": args.latency_ms,
                    "throttle_rate": args.throttle_rate,
                    "drop_rate": args.drop_rate,
                }
            )
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
    from gateway.store.errors import StoreError  # noqa: PLC0415

    async def guarded() -> int:
        try:
            return await run()
        except DecryptionFailed as exc:  # the payloads are sealed with the gateway's [message_log] data key
            print(f"gateway outbox: {exc}; use the gateway's own [message_log] key", file=sys.stderr)
            return 1

    async def run() -> int:
        try:
            store = await open_configured_store(config, create=False)
        except StoreError as exc:
            print(f"gateway outbox: the store ({config.source} store.url) cannot be opened: {exc}", file=sys.stderr)
            return 1
        try:
            if args.outbox_command == "list":
                items = await operator.list_summaries(
                    store, state=args.state, destination=args.destination, limit=args.limit
                )
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


def _console_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """``gateway console add-user NAME --role ROLE``: an operator account of the browser console (gateway/console)."""
    console = sub.add_parser("console", help="the operators' browser console: accounts", parents=[common])
    console_sub = console.add_subparsers(dest="console_command", required=True)
    add = console_sub.add_parser(
        "add-user",
        help="create or replace an account (password prompted, or one line on "
        "stdin; empty stdin: a generated one, printed once)",
        parents=[common],
    )
    add.add_argument("name", help="the operator's login name")
    add.add_argument(
        "--role",
        required=True,
        choices=["viewer", "operator", "admin"],
        help="viewer: read only; operator: also retry and discard; admin: also accounts",
    )


def _console(config: Config, args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415
    import getpass  # noqa: PLC0415

    from gateway.console.users import add_user  # noqa: PLC0415
    from gateway.sealed_store import open_configured_store  # noqa: PLC0415
    from gateway.store.errors import StoreError  # noqa: PLC0415

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("gateway console: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline(4097).rstrip("\r\n")
    shown = not password  # none given (stdin empty): a generated one, printed once
    if shown:
        import secrets  # noqa: PLC0415

        password = secrets.token_urlsafe(15)

    async def run() -> int:
        try:
            store = await open_configured_store(config)
        except StoreError as exc:
            print(f"gateway console: the store ({config.source} store.url) cannot be opened: {exc}", file=sys.stderr)
            return 1
        try:
            await add_user(store, args.name, args.role, password, time.time())
        except ValueError as exc:
            print(f"gateway console: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()
        print(f"console account {args.name}: {args.role}" + (f", password (shown once): {password}" if shown else ""))
        return 0

    return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else list(argv))
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
        if args.command == "console":
            return _console(config, args)
        if args.command == "sync":
            from gateway.sync.cli import run_sync_command  # noqa: PLC0415

            return run_sync_command(config, args)
        if args.command == "demo":
            from gateway.demo import DemoOptions, run_demo  # noqa: PLC0415

            options = DemoOptions(wait=args.wait, error_rate=args.error_rate)
            return run_demo(config, once=args.once, out=sys.stdout, port_base=args.port_base, options=options)
        if args.command == "traffic":
            from gateway.traffic import TrafficPlan, run_traffic  # noqa: PLC0415

            partners = tuple(p.strip() for p in args.partners.split(",") if p.strip())
            plan = TrafficPlan(partners, args.rate, args.duration, args.concurrency, args.gateway, args.gateway_tls)
            return run_traffic(config, plan, sys.stdout)
        return _serve(config, args)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
