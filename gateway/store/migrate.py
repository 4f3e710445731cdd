"""Applying a :class:`~gateway.store.migrations.SchemaHistory` to a database: the driver half of migrations.

Why one place: the store and the message log each keep their own history (and version table) but must apply it
the same way, in one write transaction that a second opener (another process, another gateway instance) waits
for and then finds nothing left to do.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .migrations import SchemaHistory

__all__ = ["migrate_postgres", "migrate_sqlite"]


def migrate_sqlite(conn: sqlite3.Connection, history: SchemaHistory) -> tuple[int, ...]:
    """Apply the missing migrations in one ``BEGIN IMMEDIATE`` transaction; returns the versions applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(history.create_version_table())
        todo = history.plan(row[0] for row in conn.execute(f"SELECT version FROM {history.version_table}"))  # noqa: S608 (a constant)
        for migration in todo:
            for statement in migration.render("sqlite"):
                conn.execute(statement)
            conn.execute(
                f"INSERT INTO {history.version_table} (version, name) VALUES (?, ?)",  # noqa: S608 (a constant)
                (migration.version, migration.name),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return tuple(m.version for m in todo)


async def migrate_postgres(conn: Any, history: SchemaHistory, schema: str | None) -> tuple[int, ...]:
    """Create ``schema`` if given and apply the missing migrations, under a transaction-scoped advisory lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1 || $2))", history.lock_name, schema or "")
        if schema is not None:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(history.create_version_table())
        applied = await conn.fetch(f"SELECT version FROM {history.version_table}")  # noqa: S608 (a constant)
        todo = history.plan(r["version"] for r in applied)
        for migration in todo:
            for statement in migration.render("postgres"):
                await conn.execute(statement)
            await conn.execute(
                f"INSERT INTO {history.version_table} (version, name) VALUES ($1, $2)",  # noqa: S608 (a constant)
                migration.version,
                migration.name,
            )
    return tuple(m.version for m in todo)
