"""``gateway sync --from hefei --to yrd-map [--full | --since TIME] [--dry-run] [--json] [--progress KIND]``.

The lead wires it into ``gateway.cli`` with ``add_sync_arguments(sub.add_parser("sync", ...))`` and
``run_sync_command(config, args)``. The report goes to stdout (a table, or JSON with ``--json``); progress and
messages go to stderr. Exit status: 0 all sent, 2 some items refused (listed in the report), 3 the run stopped
early (the reason is in the report; the same command resumes it), 1 a configuration or command-line error,
130 interrupted (the same command resumes).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from datetime import datetime
from typing import TextIO

from prometheus_client import CollectorRegistry

from gateway.config import Config
from gateway.errors import ConfigError
from gateway.observability.metrics import GatewayMetrics
from gateway.store import StoreError, open_store
from gateway.transport import AiohttpTransport

from .clients import sync_clients
from .engine import SyncSettings, run_sync
from .metrics_server import serve_metrics
from .progress import make_sink
from .report import SyncReport
from .start import CheckpointUnreadable

__all__ = ["add_sync_arguments", "run_sync_command"]

EXIT_CONFIG = 1
EXIT_INTERRUPTED = 130


def _since(text: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` (anhui.md §6.5, Beijing time) or ISO 8601 with an offset, or a date."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; write e.g. '2025-05-01 00:00:00' (Beijing time) or an ISO 8601 time"
        ) from None


def _bounded(low: int, high: int) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: use a whole number from {low} to {high}")
        return value

    return parse  # type: ignore[return-value]


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sync`` subcommand's options (see the module docstring and docs/sync.md)."""
    parser.add_argument("--from", dest="source", required=True, help="source platform id (its catalogue)")
    parser.add_argument("--to", dest="target", required=True, help="target platform id (takes item batches)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--full", action="store_true", help="read the whole catalogue (unchanged items still skipped)")
    start.add_argument("--since", type=_since, help="read items updated at or after TIME (Beijing time)")
    parser.add_argument("--dry-run", action="store_true", help="read and compare, send and remember nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--progress",
        choices=["bar", "lines", "json", "none"],
        help="progress on stderr (default: bar on a terminal, lines otherwise)",
    )
    parser.add_argument("--progress-interval", type=float, default=5.0, help="seconds between progress lines")
    parser.add_argument("--page-size", type=_bounded(2, 1000), default=1000, help="catalogue page size (≤ 1000)")
    parser.add_argument("--batch-size", type=_bounded(1, 500), default=500, help="items per ItemBatch (≤ 500)")
    parser.add_argument("--concurrency", type=_bounded(1, 32), default=4, help="item batches in flight")
    parser.add_argument(
        "--attempts", type=_bounded(1, 20), default=6, help="tries per page or batch before the run stops (resumable)"
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=0.0,
        help="seconds re-read before the last position when a new incremental run starts",
    )
    parser.add_argument(
        "--metrics-port",
        type=_bounded(0, 65535),
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics while the sync runs",
    )


def _settings(config: Config, args: argparse.Namespace) -> SyncSettings:
    delivery = config.delivery_settings()
    policy = delivery.per_destination.get(args.target, delivery.default)
    return SyncSettings(
        source=args.source,
        target=args.target,
        full=args.full,
        since=args.since,
        dry_run=args.dry_run,
        page_size=args.page_size,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        overlap=max(args.overlap, 0.0),
        retry=dataclasses.replace(policy, short_attempts=args.attempts),
    )


async def _run(config: Config, args: argparse.Namespace, err: TextIO) -> SyncReport:
    settings = _settings(config, args)
    transport = AiohttpTransport(limit_per_host=max(settings.concurrency * 2, 8))
    metrics = GatewayMetrics(CollectorRegistry(), platforms=config.registry.platforms)
    source, target = sync_clients(config, args.source, args.target, transport, time.time)
    stop_metrics = None
    if args.metrics_port is not None:
        stop_metrics = await serve_metrics(metrics, "127.0.0.1", args.metrics_port)
    store = await open_store(config.store_url)
    try:
        return await run_sync(
            settings,
            source=source,
            target=target,
            store=store,
            metrics=metrics,
            progress=make_sink(args.progress, err, time.monotonic, args.progress_interval),
        )
    finally:
        await store.close()
        await transport.close()
        if stop_metrics is not None:
            await stop_metrics()


def run_sync_command(config: Config, args: argparse.Namespace) -> int:
    """Run ``gateway sync`` with parsed ``args``; print the report; return the exit status."""
    out, err = sys.stdout, sys.stderr
    try:
        report = asyncio.run(_run(config, args, err))
    except (ConfigError, CheckpointUnreadable) as exc:
        print(f"gateway sync: {exc}", file=err)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"gateway sync: the store failed ({type(exc).__name__}); the last checkpoint stands", file=err)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("gateway sync: interrupted; the same command resumes from the last confirmed batch", file=err)
        return EXIT_INTERRUPTED
    print(report.to_json() if args.json else report.to_table(), file=out)
    return report.exit_status
