"""Migrations are forward-only: a database migrated by an earlier release upgrades in place."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

import migrations
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
