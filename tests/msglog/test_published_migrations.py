"""A published migration never changes (gateway/msglog/migrations.py's first rule).

A database that already ran migration 1 or 2 will never run it again, so a statement edited afterwards would give
new databases a schema the old ones do not have. The statements are built from shared pieces (the seal columns
serve both ``msglog_seals`` and ``msglog_cuts``); this digest of their text as published catches any edit. Append
a new migration instead, and add its digest here.
"""

from __future__ import annotations

import hashlib
import json

from gateway.msglog.migrations import MIGRATIONS

PUBLISHED = {(1, 2): "1c21d750ef69da49d03ac54dd0924b76fb8c5bff5bd414711bf0e19d2c032b73"}


def test_published_migrations_are_unchanged() -> None:
    for versions, digest in PUBLISHED.items():
        statements = [list(m.statements) for m in MIGRATIONS if m.version in versions]
        assert len(statements) == len(versions)
        assert hashlib.sha256(json.dumps(statements).encode()).hexdigest() == digest, versions


def test_the_seal_and_cut_tables_differ_only_in_the_signatures_nullability() -> None:
    seals = next(s for s in MIGRATIONS[0].statements if s.startswith("CREATE TABLE msglog_seals"))
    cuts = next(s for s in MIGRATIONS[1].statements if s.startswith("CREATE TABLE msglog_cuts"))
    assert cuts.replace("msglog_cuts", "msglog_seals").replace("signature TEXT,", "signature TEXT NOT NULL,") == seals
