"""Retention per kind with a fake clock, and outbox payloads sealed at rest, on SQLite and PostgreSQL.

The job is driven by hand (``run_once``) with a clock the test moves: each kind is removed exactly when its
setting says and not a second earlier, and the counters say what went.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from store_helpers import T0, Backend, inbound, message

from gateway.errors import ConfigError
from gateway.msglog.atrest import AES_GCM, AtRestKey, AtRestKeys
from gateway.msglog.errors import DecryptionFailed
from gateway.retention import DAY, RetentionJob, RetentionMetrics, RetentionSettings, read_retention
from gateway.sealed_store import SealedStore, is_sealed
from gateway.store import InboundRecord, Store, open_store

PERSON = b'{"applicant":{"id_no":"11010519491231002X","mobile":"13912345678"}}'
KEYS = AtRestKeys.create(AtRestKey.of("k2", bytes(range(16))))
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
DIALECTS = {"hefei": "anhui", "ningbo": "zlb", "g60": "g60", "yrd-map": "g60"}


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _sample(registry: CollectorRegistry, name: str, kind: str) -> float:
    value = registry.get_sample_value(name, {"kind": kind})
    assert value is not None, f"{name}{{kind={kind}}} is not exported"
    return value


def _record(source: str, kind: str, key: str, at: float) -> InboundRecord:
    return InboundRecord(kind=kind, key=key, source=source, received_at=at, receipt=b"TB01", receipt_type="receipt_no")


@pytest.fixture
def clock() -> Clock:
    return Clock()


# --- sealing ---------------------------------------------------------------------------------------------------------


async def test_payloads_and_receipts_are_sealed_in_the_store_and_open_on_the_way_out(store: Store) -> None:
    sealed = SealedStore(store, KEYS)
    m = message(payload=PERSON)
    assert (await sealed.accept(inbound(key="K:1"), [m])).new

    stored = await store.get_message(m.id)
    assert stored is not None and is_sealed(stored.payload)
    assert b"11010519491231002X" not in stored.payload and b"13912345678" not in stored.payload
    (claimed,) = await sealed.claim_due(now=T0, limit=5, owner="w", lease_seconds=30)
    assert claimed.payload == PERSON
    assert await sealed.mark_delivered(m.id, "w", b"<Receipt>13912345678</Receipt>", now=T0 + 1)

    raw = await store.get_message(m.id)
    assert raw is not None and raw.delivery_receipt is not None and is_sealed(raw.delivery_receipt)
    assert b"13912345678" not in raw.delivery_receipt
    shown = await sealed.get_message(m.id)
    assert shown is not None and (shown.payload, shown.delivery_receipt) == (PERSON, b"<Receipt>13912345678</Receipt>")
    (listed,) = await sealed.list_messages(state="delivered")
    assert listed.payload == PERSON


async def test_plaintext_rows_from_an_older_build_are_still_read_and_delivered(store: Store) -> None:
    old = message(payload=PERSON)
    await store.accept(inbound(key="K:old"), [old])  # written without the sealing layer, as before this build
    sealed = SealedStore(store, KEYS)

    (claimed,) = await sealed.claim_due(now=T0, limit=5, owner="w", lease_seconds=30)

    assert (claimed.id, claimed.payload) == (old.id, PERSON)


async def test_a_sealed_payload_moved_to_another_row_does_not_open(backend: Backend, store: Store) -> None:
    sealed = SealedStore(store, KEYS)
    a, b = message(payload=PERSON), message(payload=b'{"other":1}')
    await sealed.accept(inbound(key="K:a"), [a])
    await sealed.accept(inbound(key="K:b"), [b])
    stolen = await store.get_message(a.id)
    assert stolen is not None
    with pytest.raises(DecryptionFailed):
        sealed.open(stolen.payload, "outbox.payload", b.id)


async def test_rotated_keys_keep_older_payloads_readable(store: Store) -> None:
    m = message(payload=PERSON)
    await SealedStore(store, KEYS).accept(inbound(key="K:r"), [m])
    newer = AtRestKeys.create(AtRestKey.of("k3", bytes(32), AES_GCM), [KEYS.current])

    found = await SealedStore(store, newer).get_message(m.id)

    assert found is not None and found.payload == PERSON
    with pytest.raises(DecryptionFailed, match="k2"):
        await SealedStore(store, AtRestKeys.create(AtRestKey.of("k3", bytes(32), AES_GCM))).get_message(m.id)


# --- retention, kind by kind -----------------------------------------------------------------------------------------


async def test_nonces_go_after_their_window_plus_the_grace(store: Store, clock: Clock) -> None:
    registry = CollectorRegistry()
    job = RetentionJob(store, RetentionSettings(nonces_after=60), clock, metrics=RetentionMetrics(registry))
    assert await store.remember_nonce("hefei", "n-1", expires_at=T0 + 600, now=T0)
    assert await store.remember_nonce("hefei", "n-2", expires_at=T0 + 900, now=T0)

    clock.t = T0 + 659
    assert (await job.run_once())["nonces"] == 0
    clock.t = T0 + 660
    assert (await job.run_once())["nonces"] == 1
    clock.t = T0 + 960
    assert (await job.run_once())["nonces"] == 1
    assert _sample(registry, "tongban_retention_removed_total", "nonces") == 2
    assert await store.remember_nonce("hefei", "n-1", expires_at=T0 + 2000, now=clock.t)  # gone, so new again


async def test_delivered_payloads_go_n_days_after_delivery_and_nothing_else_does(store: Store, clock: Clock) -> None:
    registry = CollectorRegistry()
    job = RetentionJob(store, RetentionSettings(delivered_after=7 * DAY), clock, metrics=RetentionMetrics(registry))
    done, pending, dead = message(), message(), message()
    for i, m in enumerate((done, pending, dead)):
        await store.accept(inbound(key=f"K:{i}"), [m])
    await store.claim_due(now=T0, limit=10, owner="w", lease_seconds=30)
    assert await store.mark_delivered(done.id, "w", b"ok", now=T0 + 10)
    assert await store.schedule_retry(pending.id, "w", T0 + 10 * DAY, "TIMEOUT", "slow")
    assert await store.dead_letter(dead.id, "w", "REJECTED", "no")

    clock.t = T0 + 10 + 7 * DAY
    assert (await job.run_once())["delivered"] == 0
    clock.t += 1
    assert (await job.run_once())["delivered"] == 1

    assert await store.get_message(done.id) is None
    assert {m.id for m in await store.list_messages()} == {pending.id, dead.id}
    assert _sample(registry, "tongban_retention_removed_total", "delivered") == 1


async def test_idempotency_records_go_after_each_platforms_documented_horizon(store: Store, clock: Clock) -> None:
    settings = read_retention({}, DIALECTS, "test")
    assert settings.idempotency_after == {"g60": 7 * DAY, "yrd-map": 7 * DAY}  # g60.md §7; the others document none
    registry = CollectorRegistry()
    job = RetentionJob(store, settings, clock, metrics=RetentionMetrics(registry))
    for source in ("g60", "hefei"):
        await store.accept(_record(source, "status", f"{source}-C1:1", T0), [])
        await store.accept(_record(source, "case", f"{source}-C1:1", T0), [])

    clock.t = T0 + 7 * DAY
    assert (await job.run_once())["idempotency"] == 0
    clock.t += 1
    assert (await job.run_once())["idempotency"] == 1

    assert await store.get_receipt("status", "g60-C1:1") is None  # a repeat now is a new submission
    assert await store.get_receipt("status", "hefei-C1:1") is not None  # no documented horizon: kept
    assert await store.latest_source("case", "g60-C1:") == "g60"  # case records route status events: kept
    assert _sample(registry, "tongban_retention_removed_total", "idempotency") == 1


async def test_case_records_go_only_when_configured_and_never_inside_the_horizon(store: Store, clock: Clock) -> None:
    settings = read_retention({"case_records_after": "1d", "idempotency_after": {"hefei": "30d"}}, DIALECTS, "test")
    job = RetentionJob(store, settings, clock)
    for source in ("g60", "hefei"):
        await store.accept(_record(source, "case", f"{source}-C2:1", T0), [])

    clock.t = T0 + 8 * DAY  # past g60's 7 days (and the 1 day), inside hefei's 30
    assert (await job.run_once())["idempotency"] == 1
    assert await store.latest_source("case", "g60-C2:") is None
    assert await store.latest_source("case", "hefei-C2:") == "hefei"
    clock.t = T0 + 31 * DAY
    assert (await job.run_once())["idempotency"] == 1


async def test_one_failing_kind_is_counted_and_the_others_still_run(backend: Backend, clock: Clock) -> None:
    store = await backend.open()
    registry = CollectorRegistry()
    job = RetentionJob(store, RetentionSettings(delivered_after=0), clock, metrics=RetentionMetrics(registry))
    await store.remember_nonce("hefei", "n", expires_at=T0 - 1, now=T0 - 2)

    class Broken:
        async def purge(self, before: float) -> None:
            raise OSError("disk gone")

    job.msglog = Broken()  # type: ignore[assignment]
    job.settings = RetentionSettings(delivered_after=0, message_log_after=DAY)
    removed = await job.run_once()

    assert removed == {"nonces": 1, "delivered": 0, "idempotency": 0}
    assert _sample(registry, "tongban_retention_failures_total", "message_log") == 1
    assert _sample(registry, "tongban_retention_removed_total", "message_log") == 0
    assert registry.get_sample_value("tongban_retention_last_run_timestamp_seconds") == T0


# --- configuration ---------------------------------------------------------------------------------------------------


def test_settings_default_and_refusals() -> None:
    settings = read_retention(None, DIALECTS, "test", message_log_days=365)
    assert (settings.interval, settings.nonces_after, settings.delivered_after) == (3600.0, 0.0, 7 * DAY)
    assert (settings.case_records_after, settings.message_log_after) == (None, 365 * DAY)
    keep = {"delivered_after": "keep", "message_log_after": "keep", "idempotency_after": {"g60": "keep"}}
    kept = read_retention(keep, DIALECTS, "test", message_log_days=365)
    assert (kept.delivered_after, kept.message_log_after, "g60" in kept.idempotency_after) == (None, None, False)
    for raw, key in (
        ({"idempotency_after": {"g60": "6d"}}, "retention.idempotency_after.g60"),  # inside the documented 7 days
        ({"idempotency_after": {"nowhere": "6d"}}, "retention.idempotency_after.nowhere"),
        ({"delivered_after": "soon"}, "retention.delivered_after"),
        ({"interval": 0}, "retention.interval"),
        ({"nonces_after": "keep"}, "retention.nonces_after"),
        ({"delivered_aftr": "1d"}, "retention.delivered_aftr"),
    ):
        with pytest.raises(ConfigError) as refused:
            read_retention(raw, DIALECTS, "test")
        assert key in str(refused.value), raw


async def test_plaintext_from_an_older_build_leaves_the_sqlite_file_with_retention_and_the_documented_vacuum(
    tmp_path: Path,
) -> None:
    (tmp_path / "var").mkdir()
    store = await open_store(f"sqlite://{tmp_path / 'var' / 'gateway.db'}")
    old = message(payload=PERSON)
    await store.accept(inbound(key="K:legacy"), [old])  # as an older build wrote it: plaintext
    (claimed,) = await SealedStore(store, KEYS).claim_due(now=T0, limit=1, owner="w", lease_seconds=30)
    assert claimed.payload == PERSON
    assert await store.mark_delivered(old.id, "w", None, now=T0 + 1)
    clock = Clock(T0 + 7 * DAY + 2)
    assert (await RetentionJob(SealedStore(store, KEYS), RetentionSettings(), clock).run_once())["delivered"] == 1
    await store.close()

    blocks = re.findall(r"```sh\n(.*?)\n```", OPERATIONS.read_text(encoding="utf-8"), re.DOTALL)
    (vacuum,) = [block for block in blocks if "VACUUM" in block]
    done = subprocess.run(shlex.split(vacuum), cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    for path in (tmp_path / "var").iterdir():
        assert b"11010519491231002X" not in path.read_bytes(), path.name
