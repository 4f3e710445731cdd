"""A store outage is answered in each dialect's retryable fault form, signed, with 503 and Retry-After (issue 12).

The gateway runs on loopback with a real store (a SQLite file; a fresh PostgreSQL schema), which is then closed
under it: every partner call that needs the store (the replay guard's nonces, the intake) finds it unavailable.
Each partner's real client makes its call and must get a fault it retries (``ServerError`` with the wait the answer
named); the answer itself must be the dialect's fault form, signed as the dialect signs refusals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_fuzz import DIALECT_PARTNERS, fault, prepare_credentials, start_rig, unsigned
from pg_support import drop_schema

from gateway.delivery.outcomes import ServerError
from gateway.server.keys import STORE
from gateway.store.errors import StoreConflict, StoreError, StoreUnavailable
from gateway.wire.base import OUTAGE_RETRY_AFTER, fault_of

#: the HTTP status of a store outage per dialect: 503 where the dialect allows it; shanghai answers every fault 500
#: (shanghai.md §3, as SOAP 1.1 requires), so there only ``Retry-After`` and ``soap:Server`` say "retry later"
OUTAGE_STATUS = {"anhui": 503, "zlb": 503, "hunan": 503, "g60": 503, "shanghai": 500}
PARTNERS = tuple(p for partners in DIALECT_PARTNERS.values() for p in partners)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outage-dev")
    prepare_credentials(folder)
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    dsn: str = request.getfixturevalue("pg_dsn")
    schema = f"o_{uuid.uuid4().hex[:16]}"
    yield f"{dsn}?schema={schema}"
    drop_schema(dsn, schema)


async def test_store_outage_is_a_signed_retryable_fault_in_every_dialect(
    dev: Path, store_url: str, samples_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await start_rig(dev, store_url, samples_dir, PARTNERS)
    try:
        for pid in PARTNERS:  # the store is up: the same calls are accepted
            client, _, _, _ = rig.clients[pid]
            (case,) = [c for c in rig.calls[pid] if c.name == "case"]
            await case.make(client, uuid.uuid4().hex)
        await rig.app[STORE].close()  # the outage: a closed store (SQLite worker stopped, PostgreSQL pool closed)
        caplog.set_level(logging.WARNING)
        for pid in PARTNERS:
            dialect = rig.config.registry.platforms[pid].dialect
            client, _, recording, link = rig.clients[pid]
            (case,) = [c for c in rig.calls[pid] if c.name == "case"]
            recording.seen.clear()
            with pytest.raises(ServerError) as info:
                await case.make(client, uuid.uuid4().hex)
            assert info.value.retry_after is not None and info.value.retry_after >= OUTAGE_RETRY_AFTER - 1, pid
            _, response = recording.seen[-1]
            assert response.status == OUTAGE_STATUS[dialect], (pid, response.status, response.body[:200])
            assert response.header("retry-after") == str(OUTAGE_RETRY_AFTER), pid
            assert fault(dialect, response) is not None, pid  # the dialect's fault form: "retry later"
            assert unsigned(dialect, link, response, rig.now()) is None, pid  # signed as refusals are
        outages = [r for r in caplog.records if "store unavailable" in r.getMessage()]
        assert outages and all(r.levelno == logging.WARNING and r.exc_info is None for r in outages)
    finally:
        await rig.close()


def test_only_a_store_outage_is_retryable() -> None:
    """``fault_of`` decides by type: ``StoreUnavailable`` is a 503 with Retry-After; a bug or a permanent store error
    is a 500 that names no wait."""
    outage = fault_of(StoreUnavailable("accept", "the store is closed"))
    assert (outage.status, outage.code) == (503, "UNAVAILABLE")
    assert outage.headers == {"Retry-After": str(OUTAGE_RETRY_AFTER)}
    for other in (StoreError("accept", "IntegrityError"), StoreConflict("accept", "dup"), RuntimeError("bug")):
        internal = fault_of(other)
        assert (internal.status, internal.headers, internal.retryable) == (500, {}, False)
