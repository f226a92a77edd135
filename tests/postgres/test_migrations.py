"""Migrations are forward-only: a database migrated by an earlier release upgrades in place."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import click
import pytest

import migrations
from lib.settings import Settings
from selection.cli.jobs import migrate_database
from selection.group_commit import commit_batch
from tests.builders import add_offering, add_round, add_students
from tests.postgres.test_writer import change
from tests.stores import Stores, with_database


@pytest.fixture
async def empty_database(stores: Stores) -> AsyncIterator[asyncpg.Connection]:
    name = f"sel_{stores.run_id}_empty_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(stores.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(stores.admin_url, name))
    try:
        yield conn
    finally:
        await conn.close()
        admin = await asyncpg.connect(stores.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_a_database_of_the_first_group_commit_upgrades_and_commits(empty_database: asyncpg.Connection) -> None:
    db = empty_database
    # What a release with migrations 0001 and 0002 left behind: commit_batch of twenty arrays.
    await db.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for version, name, sql in migrations.available()[:2]:
        await db.execute(sql)
        await db.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)

    assert await migrations.apply(db) == [f"{v:04d}_{n}" for v, n, _ in migrations.available()[2:]]

    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=10)
    await add_round(db, "r1", ["swim"])
    assert await commit_batch(db, [([change(1, 0, "s1")], [])]) == set()
    assert await db.fetchval("SELECT count(*) FROM selections WHERE round_id = 'r1' AND student_id = 's1'") == 1
    arrays = await db.fetchval("SELECT count(*) FROM pg_proc WHERE proname = 'commit_batch' AND pronargs = 20")
    assert arrays == 0


async def test_a_database_whose_0002_was_already_the_json_form_upgrades_too(empty_database: asyncpg.Connection) -> None:
    db = empty_database
    await migrations.apply(db)
    # For a while 0002 created the JSON form itself: such a database has it, and no array form,
    # when 0003 comes.
    await db.execute("DELETE FROM schema_migrations WHERE version = 3")
    assert await migrations.apply(db) == ["0003_commit_batch_json"]
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=10)
    await add_round(db, "r1", ["swim"])
    assert await commit_batch(db, [([change(1, 0, "s1")], [])]) == set()


def _copy_of_the_migrations(folder: Path) -> Path:
    """The package's migration files, in a folder a test may edit."""
    for migration in migrations.available():
        (folder / f"{migration.label}.sql").write_text(migration.sql, encoding="utf-8")
    return folder


async def test_each_applied_migration_is_recorded_with_its_files_checksum(db: asyncpg.Connection) -> None:
    rows = await db.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in migrations.available()]
    assert all(len(r["checksum"]) == 64 for r in rows)


async def test_an_applied_migration_edited_afterwards_stops_the_start(db: asyncpg.Connection, tmp_path: Path) -> None:
    folder = _copy_of_the_migrations(tmp_path)
    assert await migrations.apply(db, folder) == []
    edited = folder / f"{migrations.available()[1].label}.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- a later thought\n", encoding="utf-8")
    (folder / f"{len(migrations.available()) + 1:04d}_next.sql").write_text("CREATE TABLE next (id int);")

    with pytest.raises(migrations.MigrationMismatch) as refused:
        await migrations.apply(db, folder)

    message = str(refused.value)
    assert f"migrations/{migrations.available()[1].label}.sql was edited" in message
    assert "never edited" in message
    assert "new migration" in message
    # Refused before anything changed: the pending migration was not applied.
    assert await db.fetchval("SELECT to_regclass('next')") is None


async def test_a_migration_the_code_does_not_know_stops_the_start(db: asyncpg.Connection) -> None:
    # A newer release applied one more migration to this database; this release has one fewer.
    known = len(migrations.available())
    await db.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'from_the_future', 'x')", known + 1
    )

    with pytest.raises(migrations.MigrationMismatch, match=rf"{known + 1:04d}_from_the_future .*does not know"):
        await migrations.apply(db)


async def test_a_migration_of_the_same_number_but_another_name_stops_the_start(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    # Another branch's last migration was applied here under the number of this code's last one.
    last = migrations.available()[-1]
    folder = _copy_of_the_migrations(tmp_path)
    (folder / f"{last.label}.sql").rename(folder / f"{last.version:04d}_something_else.sql")

    with pytest.raises(migrations.MigrationMismatch, match=rf"{last.label} .*does not know"):
        await migrations.apply(db, folder)


async def test_rows_recorded_before_checksums_take_the_current_files_and_are_guarded_from_then_on(
    empty_database: asyncpg.Connection, tmp_path: Path
) -> None:
    db = empty_database
    # What a release before checksums left behind: the table without the column, two migrations.
    await db.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in migrations.available()[:2]:
        await db.execute(migration.sql)
        await db.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", *migration[:2])

    assert await migrations.apply(db) == [m.label for m in migrations.available()[2:]]

    rows = await db.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in migrations.available()]
    assert await migrations.apply(db) == []
    folder = _copy_of_the_migrations(tmp_path)
    first = folder / f"{migrations.available()[0].label}.sql"
    first.write_text(first.read_text(encoding="utf-8").replace("CREATE TABLE", "CREATE  TABLE", 1), encoding="utf-8")
    with pytest.raises(migrations.MigrationMismatch, match=r"0001_schema\.sql was edited"):
        await migrations.apply(db, folder)


async def test_migrate_and_serve_stop_with_the_reason_and_no_traceback(
    db: asyncpg.Connection, database_url: str
) -> None:
    await db.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'from_the_future', 'x')")

    with pytest.raises(
        click.ClickException, match=r"^migrations refused: the database has migration 9999_from_the_future"
    ):
        await migrate_database(Settings(database_url=database_url))
