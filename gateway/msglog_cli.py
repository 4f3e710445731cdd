"""The message log as configured (``[message_log]``), and ``gateway log verify|search|export|verify-export``."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TextIO

from gateway.config import Config, MessageLogSettings
from gateway.errors import ConfigError
from gateway.evidence import ensure_message_log_keys
from gateway.msglog import open_message_log
from gateway.msglog.api import MessageLog, VerifyReport
from gateway.msglog.atrest import AtRestKey, AtRestKeys
from gateway.msglog.export import keys_from_jwks, verify_export
from signing.keys import SigningKey, load_private_key_file

__all__ = ["data_keys", "older_keys", "open_configured_log", "run_log_command", "seal_key"]

SEAL_KID = "gateway-seal-1"


def _settings(config: Config) -> MessageLogSettings:
    if config.message_log is None:
        raise ConfigError(config.source, "message_log", "no message log is configured", "add [message_log]")
    return config.message_log


def _data_key(config: Config) -> bytes:
    """The at-rest data key (hex): from ``key_env`` when configured, else ``key_file``."""
    settings = _settings(config)
    if settings.key_env is not None:
        value = os.environ.get(settings.key_env)
        if not value:
            raise ConfigError(
                config.source,
                "message_log.key_env",
                f"{settings.key_env} is not set",
                "export it (hex), or use key_file",
            )
        return bytes.fromhex(value.strip())
    return bytes.fromhex(settings.key_file.read_text(encoding="ascii").strip())


def seal_key(config: Config) -> SigningKey:
    """The gateway's message-log seal key (its public half is in the published JWKS)."""
    return SigningKey.of(SEAL_KID, load_private_key_file(_settings(config).seal_key_file))


def data_keys(config: Config) -> AtRestKeys:
    """The message log's at-rest keys, for everything else kept encrypted at rest (the outbox payloads)."""
    settings = _settings(config)
    ensure_message_log_keys(
        None if settings.key_env else settings.key_file, settings.seal_key_file, config.dev_credentials is not None
    )
    return AtRestKeys.create(AtRestKey.of(settings.key_id, _data_key(config), settings.cipher), older_keys(config))


def older_keys(config: Config) -> list[AtRestKey]:
    """The rotated-out data keys of ``[message_log.older_keys]``: they still decrypt, never encrypt."""
    settings = _settings(config)
    return [
        AtRestKey.of(key_id, bytes.fromhex(path.read_text(encoding="ascii").strip()), cipher)
        for key_id, (path, cipher) in (settings.older_keys or {}).items()
    ]


async def open_configured_log(config: Config) -> MessageLog | None:
    """The message log of ``config`` (None when the configuration has no ``[message_log]``)."""
    settings = config.message_log
    if settings is None:
        return None
    ensure_message_log_keys(
        None if settings.key_env else settings.key_file, settings.seal_key_file, config.dev_credentials is not None
    )
    if settings.url.startswith("sqlite://"):
        Path(settings.url[len("sqlite://") :].partition("?")[0]).parent.mkdir(parents=True, exist_ok=True)
    retention = None if settings.retention_days is None else settings.retention_days * 86400
    return await open_message_log(
        settings.url,
        encryption_key=_data_key(config),
        key_id=settings.key_id,
        signing_key=seal_key(config),
        cipher=settings.cipher,
        retention=retention,
        older_keys=older_keys(config),
    )


def _report(report: VerifyReport, out: TextIO) -> int:
    doc: dict[str, object] = {
        "ok": report.ok,
        "entries": report.entries,
        "seals": report.seals,
        "sealed_through": report.sealed_through,
    }
    if report.problem is not None:
        doc["problem"] = {"kind": report.problem.kind, "seq": report.problem.seq, "detail": report.problem.detail}
    print(json.dumps(doc, ensure_ascii=False), file=out)
    return 0 if report.ok else 3


async def run_log_command(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """Exit status: 0 fine, 3 the log (or export) does not verify, 1 usage or configuration errors."""
    if args.log_command == "verify-export":
        if args.jwks is not None:
            trusted = keys_from_jwks(json.loads(args.jwks.read_text(encoding="utf-8")))
        else:
            seal = seal_key(config)
            trusted = {seal.kid: seal.verification_key()}
        return _report(verify_export(args.file, trusted), out)
    log = await open_configured_log(config)
    if log is None:
        raise ConfigError(config.source, "message_log", "no message log is configured", "add [message_log]")
    try:
        if args.log_command == "verify":
            after = config.retention.message_log_after  # a cut of what the policy still keeps is a removal
            return _report(await log.verify(kept_since=None if after is None else time.time() - after), out)
        if args.log_command == "search":
            if not (args.case_no or args.licence_id):
                print("gateway log search: give --case-no or --licence-id", file=out)
                return 1
            keys = None
            if args.reveal:
                settings = _settings(config)
                keys = AtRestKeys.create(
                    AtRestKey.of(settings.key_id, _data_key(config), settings.cipher), older_keys(config)
                )
            for entry in await log.search(args.case_no, args.licence_id, keys=keys):
                row = {
                    "seq": entry.seq,
                    "at": entry.at,
                    "direction": entry.direction,
                    "platform": entry.platform,
                    "operation": entry.operation,
                    "message_id": entry.message_id,
                    "case_no": entry.case_no,
                    "licence_id": entry.licence_id,
                    "size": entry.message_size,
                    "hash": entry.entry_hash,
                }
                if entry.message is not None:
                    row["message"] = entry.message.decode("utf-8", "replace")
                print(json.dumps(row, ensure_ascii=False), file=out)
            return 0
        summary = await log.export(args.out, first_seal=args.first_seal, last_seal=args.last_seal)
        print(
            json.dumps(
                {
                    "path": str(summary.path),
                    "seals": [summary.first_seal, summary.last_seal],
                    "entries": summary.entries,
                }
            ),
            file=out,
        )
        return 0
    finally:
        await log.close()
