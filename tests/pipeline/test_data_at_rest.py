"""PIPL at rest: after a full stream of real submissions, no ID number or phone is in the databases' bytes.

Every case, status event and evaluation sample goes through the gateway from a partner of its dialect to the real
simulators and is delivered (or refused, or retried), and licence queries bring holders' codes from the issuer; then
the raw bytes are scanned for every ID number and phone number of every sample and licence: the SQLite files of the
store and of the message log, each with its ``-wal`` (read while the gateway runs, so the newest pages are still in
the WAL), and on PostgreSQL every column of every table of the schema holding the store and the message log
(``bytea`` as its bytes, everything else as text).

The test could fail: the same values are found in the outbox payloads when read through the gateway's store (the
sealing layer decrypts them), so they did pass through the store.
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from pipeline_stack import Stack, StackFactory, wait_for_async

from adapters.anhui.roles import dev_consent_key, load_link
from gateway.consent import issue_consent
from gateway.delivery import DeliveryError
from gateway.errors import Refusal
from gateway.links import dev_link_settings
from gateway.model.personal import PERSONAL_FIELDS
from gateway.model.records import LicenceQuery, to_ref
from gateway.sealed_store import SealedStore
from gateway.server.keys import MSGLOG
from gateway.simulate.licences import LicenceLibrary

CONSENT_ISS = "https://akm.ahzwfw.gov.cn"  # anhui.md §6.6: the consent issuer of these tests

SENDER = {"anhui": "hefei", "zlb": "ningbo", "hunan": "changsha", "shanghai": "songjiang", "g60": "ningbo"}
ID_NUMBER = re.compile(r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:[0-2][0-9]|3[01])[0-9]{3}[0-9X]")
MOBILE = re.compile(r"1[3-9][0-9]{9}")
REMOVED = re.compile(r'^tongban_retention_removed_total\{kind="([a-z_]+)"\} ([0-9.e+]+)$', re.MULTILINE)


def _identifying(values: dict[str, Any], prefix: str = "") -> set[str]:
    """The record's personal values that are ID numbers or phone numbers."""
    found: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found |= _identifying(value, path + ".")
        elif path in PERSONAL_FIELDS and isinstance(value, str):
            found.update(m.group() for m in (ID_NUMBER.fullmatch(value), MOBILE.fullmatch(value)) if m)
    return found


async def _submit_every_sample(stack: Stack, samples_dir: Path) -> set[str]:
    with (samples_dir / "INDEX.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["type"] in ("case", "status", "evaluation")]
    personal: set[str] = set()
    accepted = 0
    for row in rows:
        adapter = stack.config.registry.adapter(row["dialect"])
        record = adapter.decode(row["type"], (samples_dir / row["file"]).read_bytes())
        personal |= _identifying(to_ref(record))
        sender = SENDER[row["dialect"]]
        if stack.config.registry.platforms[sender].dialect != row["dialect"]:
            sender = "ningbo"
        try:
            await stack.partner_client(sender).submit(row["type"], record, f"rest-{row['file']}")
            accepted += 1
        except (DeliveryError, Refusal):
            continue  # a sample the gateway refuses still went through every layer up to its refusal
    assert accepted >= 10
    return personal


def _sqlite_files(url: str) -> list[Path]:
    path = Path(url[len("sqlite://") :].partition("?")[0])
    return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]


async def _postgres_bytes(url: str) -> list[bytes]:
    """Every value of every row of every table in the store's schema, as bytes."""
    dsn, _, query = url.partition("?")
    schema = urllib.parse.parse_qs(query)["schema"][0]
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)]  # fmt: skip
        assert {"inbound", "outbox", "nonces", "msglog_entries", "msglog_seals"} <= set(tables)
        out: list[bytes] = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{schema}"."{table}"'):  # names from the catalog
                out.extend(v if isinstance(v, bytes) else str(v).encode() for v in row.values() if v is not None)
        return out
    finally:
        await conn.close()


async def _query_licences(stack: Stack, n: int) -> set[str]:
    """``n`` licence queries from ningbo to the Hefei issuer, with the holder's consent: holder codes travel."""
    _, sides = dev_link_settings(stack.config.dev_credentials, stack.config.registry)  # type: ignore[arg-type]
    link = load_link(sides["hefei"].settings, sides["hefei"].base)
    assert link.licence_key is not None
    library = LicenceLibrary(link.licence_key, link.licence_cert_sn, "340100")
    key = dev_consent_key(stack.config.dev_credentials, "hefei")  # type: ignore[arg-type]
    holders: set[str] = set()
    for i, identifier in enumerate(library.identifiers()[:n]):
        licence, _ = library.get(identifier)
        token = issue_consent(key, sub=licence.holder_code, aud="ningbo", scope=licence.type_code,
                              purpose="3302002506000000417", now=time.time(), jti=str(uuid.uuid4()),
                              issuer=CONSENT_ISS)  # fmt: skip
        answer = await stack.partner_client("ningbo").query_licence(LicenceQuery(identifier, "核验", token), f"q-{i}")
        assert answer.licence == licence
        holders |= _identifying(to_ref(licence))
    return holders


async def test_no_id_number_or_phone_is_stored_in_plaintext(
    store_url: str, make_stack: StackFactory, samples_dir: Path, tmp_path: Path
) -> None:
    # the message log beside the store: its own SQLite file, or the store's PostgreSQL schema
    log_url = store_url if store_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'msglog.db'}"
    stack = await make_stack(store_url, extra={"message_log": {"url": log_url}})
    personal = await _submit_every_sample(stack, samples_dir)
    assert len(personal) >= 5, personal
    holders = await _query_licences(stack, 3)
    personal |= holders
    store = stack.store
    assert isinstance(store, SealedStore)

    async def settled() -> bool:
        messages = await store.list_messages(limit=1000)
        return bool(messages) and all(m.state in ("delivered", "dead") for m in messages)

    await wait_for_async(settled, timeout=30, what="every outbox message delivered or dead")
    await asyncio.sleep(0.2)
    payloads = b"\n".join(m.payload for m in await store.list_messages(limit=1000))
    seen = {value for value in personal if value.encode() in payloads}
    assert len(seen) >= 5, "the stream should have put ID numbers and phones into the outbox"

    log = stack.app[MSGLOG]
    assert holders and len(await log.search(limit=10_000)) > 0
    await log.seal(time.time())

    blobs: dict[str, bytes] = {}
    if stack.config.store_url.startswith("sqlite://"):
        log_settings = stack.config.message_log
        assert log_settings is not None
        files = _sqlite_files(stack.config.store_url) + _sqlite_files(log_settings.url)
        assert sum(p.name.endswith("-wal") for p in files) == 2
        for path in files:
            blobs[str(path)] = path.read_bytes()
    else:
        for i, value in enumerate(await _postgres_bytes(stack.config.store_url)):
            blobs[f"postgres value {i}"] = value
    assert blobs
    leaked = sorted({f"{where}: {value[:4]}…" for where, data in blobs.items() for value in personal
                     if value.encode() in data})  # fmt: skip
    assert leaked == [], f"plaintext personal values at rest: {leaked}"


async def test_the_server_runs_the_retention_job_and_counts_what_it_removed(
    store_url: str, make_stack: StackFactory, samples_dir: Path
) -> None:
    built = await make_stack(store_url, extra={"retention": {"interval": "100ms", "delivered_after": "0s"}})
    body = (samples_dir / "anhui" / "case" / "SC001.json").read_bytes()
    case = built.config.registry.adapter("anhui").decode("case", body)
    await built.partner_client("hefei").submit("case", case, "rest-job-1")
    store = built.store

    async def delivered_then_purged() -> bool:
        return not await store.list_messages(limit=10) and await store.get_receipt("case", str(case.idempotency_key))

    await wait_for_async(delivered_then_purged, timeout=20, what="the delivered message purged by the job")
    async with aiohttp.ClientSession() as session, session.get(built.gateway_url + "/metrics") as resp:
        text = await resp.text()
    removed = {m.group(1): float(m.group(2)) for m in REMOVED.finditer(text)}
    assert removed.keys() == {"nonces", "delivered", "idempotency", "message_log"}  # all there from the start
    assert removed["delivered"] >= 1
    assert "tongban_retention_last_run_timestamp_seconds" in text
