"""Forward-only, numbered plain-SQL migrations, applied in order, each once, under a lock.

Each applied migration is recorded with the checksum of its file, so that a database and the
code that starts against it are known to agree on every migration already applied."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import NamedTuple

import asyncpg

#: Serialises concurrent `serve` starts: the second waits, then finds nothing to do.
_LOCK_KEY = 0x5E1EC7_0001
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class Migration(NamedTuple):
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return checksum(self.sql)


class MigrationMismatch(RuntimeError):
    """The database's applied migrations and the code's files disagree: nothing may start."""


def checksum(sql: str) -> str:
    """sha256 of a migration's text (read with universal newlines, so a checkout's line endings do not count)."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def available(folder: Traversable | None = None) -> list[Migration]:
    """Every migration file in ``folder`` (this package by default), in order."""
    source = resources.files(__name__) if folder is None else folder
    found = []
    for entry in source.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [m.version for m in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n without gaps: {versions}")
    return found


async def apply(conn: asyncpg.Connection, folder: Traversable | None = None) -> list[str]:
    """Check the applied migrations against their files, then apply the pending ones; returns the names applied.

    Raises MigrationMismatch, before changing anything, when an applied migration's file was
    edited or the database has a migration these files do not."""
    migrations = available(folder)
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   checksum text)"""
        )
        # Releases before checksums made the table without the column.
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        _check(rows, migrations)
        by_version = {m.version: m for m in migrations}
        for row in rows:
            if row["checksum"] is None:
                # Recorded by a release before checksums: the text it applied is not known, and the
                # file shipped now is the best witness there is. From here on, an edit is caught.
                await conn.execute(
                    "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL",
                    row["version"],
                    by_version[row["version"]].checksum,
                )
        done = {r["version"] for r in rows}
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied.append(migration.label)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied


def _check(rows: list[asyncpg.Record], migrations: list[Migration]) -> None:
    """Refuse a database whose applied migrations these files do not reproduce."""
    known = {(m.version, m.name): m for m in migrations}
    latest = migrations[-1].label if migrations else "none"
    for row in rows:
        label = f"{row['version']:04d}_{row['name']}"
        migration = known.get((row["version"], row["name"]))
        if migration is None:
            raise MigrationMismatch(
                f"the database has migration {label} applied, which this release does not know "
                f"(its latest is {latest}): a newer release, or another branch, migrated it. "
                "Run the release that applied it, or restore a backup taken before it."
            )
        if row["checksum"] is not None and row["checksum"] != migration.checksum:
            raise MigrationMismatch(
                f"migrations/{label}.sql was edited after it was applied to this database "
                "(its checksum differs from the one recorded then). Applied migrations are never edited: "
                "restore the file as it was, and put the change in a new migration, "
                f"{len(migrations) + 1:04d}_<name>.sql."
            )
