"""Entries built from the platforms' golden samples, and raw SQL access for tampering (unique module name)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from gateway.msglog import MessageLog, NewEntry, open_message_log
from signing.keys import SigningKey
from signing.secret import Secret

T0 = 1_750_000_000.0
DATA_KEY = bytes(range(16))
DATA_KEY_ID = "k1"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(
    rb"(?<![0-9])[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]"
)


def is_id_number(value: str) -> bool:
    """A GB 11643 citizen ID number with a valid check character (README §7.1)."""
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def id_numbers_in(data: bytes) -> set[str]:
    """Every well-formed ID number (with a valid check character) in ``data``."""
    return {m.group().decode() for m in _ID_SHAPE.finditer(data) if is_id_number(m.group().decode())}


@dataclass(frozen=True)
class Sample:
    """One golden sample as the gateway would log it."""

    record_type: str
    platform: str
    body: bytes
    case_no: str | None
    licence_id: str | None


def load_samples(samples_dir: Path) -> list[Sample]:
    """The anhui and zlb cases, statuses and licences (they hold the ID numbers of the test people)."""
    out: list[Sample] = []
    for dialect, platform in (("anhui", "hefei"), ("zlb", "ningbo")):
        for kind in ("case", "status", "licence"):
            for path in sorted((samples_dir / dialect / kind).glob("*.json")):
                body = path.read_bytes()
                case = re.search(rb'"(?:PROJID|projectNo|caseNo)"\s*:\s*"([0-9A-Za-z_-]+)"', body)
                licence = re.search(rb'"(?:certificateIdentifier|licenceId|certificateId)"\s*:\s*"([^"]+)"', body)
                out.append(
                    Sample(
                        kind,
                        platform,
                        body,
                        case.group(1).decode() if case else None,
                        licence.group(1).decode() if licence else None,
                    )
                )
    return out


def entries(samples: list[Sample], n: int, start: int = 0, holder: str | None = None) -> list[NewEntry]:
    """``n`` entries cycling over the samples, each with its own message id, time and evidence."""
    out = []
    for i in range(start, start + n):
        s = samples[i % len(samples)]
        out.append(
            NewEntry(
                at=T0 + i,
                direction="in" if i % 2 == 0 else "out",
                platform=s.platform,
                operation=f"submit_{s.record_type}",
                record_type=s.record_type,
                message_id=f"msg-{i:06d}",
                idem_key=f"{s.case_no or s.licence_id}:{i}",
                message=s.body,
                evidence={"x-ah-jws": f"eyJhbGciOiJFUzI1NiJ9..sig{i}", "x-tif-nonce": f"n{i}"},
                case_no=s.case_no,
                licence_id=s.licence_id,
                holder_code=holder if s.record_type == "licence" else None,
            )
        )
    return out


@dataclass
class Backend:
    """Opens logs on the test's database and runs raw SQL on it, as an intruder with SQL access would."""

    name: str
    url: str
    signing_key: SigningKey
    pg_dsn: str | None = None
    schema: str | None = None
    path: Path | None = None
    opened: list[MessageLog] = field(default_factory=list)

    async def open(self, **kwargs: Any) -> MessageLog:
        settings: dict[str, Any] = {
            "encryption_key": Secret(DATA_KEY),
            "key_id": DATA_KEY_ID,
            "signing_key": self.signing_key,
        }
        settings.update(kwargs)
        log = await open_message_log(self.url, **settings)
        self.opened.append(log)
        return log

    async def sql(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Run statements (``?`` placeholders) in one transaction outside the log."""
        if self.path is not None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            finally:
                conn.close()
            return
        assert self.pg_dsn is not None
        pg = await asyncpg.connect(self.pg_dsn, server_settings={"search_path": self.schema or "public"})
        try:
            async with pg.transaction():
                for sql, params in statements:
                    await pg.execute(_numbered(sql), *params)
        finally:
            await pg.close()

    async def fetchrow(self, sql: str, *params: Any) -> dict[str, Any]:
        if self.path is not None:
            conn = sqlite3.connect(self.path)
            conn.row_factory = sqlite3.Row
            try:
                return dict(conn.execute(sql, params).fetchone())
            finally:
                conn.close()
        assert self.pg_dsn is not None
        pg = await asyncpg.connect(self.pg_dsn, server_settings={"search_path": self.schema or "public"})
        try:
            return dict(await pg.fetchrow(_numbered(sql), *params))
        finally:
            await pg.close()


def _numbered(sql: str) -> str:
    counter: Iterator[int] = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)
