"""Idempotency-Key answers past their retention are deleted, in small batches, one process at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from lib.database import create_pool
from selection.idempotency_pruner import IdempotencyPruner

RETENTION = 25 * 3600.0


async def answer(db: asyncpg.Connection, key: str, age_hours: float) -> None:
    await db.execute(
        """INSERT INTO idempotency_keys (student_id, round_id, key, fingerprint, status, body, created_at)
           VALUES ('s1', 'r1', $1, 'fp', 201, '\\x7b7d', now() - make_interval(secs => $2))""",
        key,
        age_hours * 3600,
    )


async def keys(db: asyncpg.Connection) -> list[str]:
    return [r["key"] for r in await db.fetch("SELECT key FROM idempotency_keys ORDER BY key")]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, size=2)
    yield p
    await p.close()


async def test_answers_older_than_the_retention_are_deleted_batch_by_batch(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    for n in range(5):
        await answer(db, f"old-{n}", 25.5 + n)
    await answer(db, "kept-24h", 24.2)
    await answer(db, "kept-new", 0)
    pruner = IdempotencyPruner(pool, retention_seconds=RETENTION, interval_seconds=60, batch=2)
    assert await pruner.prune() == 5
    assert await keys(db) == ["kept-24h", "kept-new"]
    assert await pruner.prune() == 0


async def test_one_process_prunes_at_a_time(db: asyncpg.Connection, pool: asyncpg.Pool, database_url: str) -> None:
    await answer(db, "old", 30)
    pruner = IdempotencyPruner(pool, retention_seconds=RETENTION, interval_seconds=60)
    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():
            # Another process's turn, under way.
            await other.execute("SELECT pg_advisory_xact_lock('idempotency_keys'::regclass::oid::integer, 0)")
            assert await asyncio.wait_for(pruner.prune(), 10) is None
            assert await keys(db) == ["old"]
    finally:
        await other.close()
    assert await pruner.prune() == 1
    assert await keys(db) == []
