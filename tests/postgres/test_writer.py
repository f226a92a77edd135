"""The group commit against PostgreSQL: the generation fence, whole jobs, idempotent replays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from lib.database import create_pool
from quota.entries import Change, ChangeStatus, RedoEntry
from quota.loader import lock_round
from selection.group_commit import NotCommitted, Poisoned, RedoWriter, commit_batch
from selection.idempotency import Answer
from tests.builders import add_offering, add_round, add_students


def change(
    seq: int,
    gen: int,
    student: str,
    *,
    status: ChangeStatus = "enrolled",
    round_id: str = "r1",
    idem: str | None = None,
) -> Change:
    entry = RedoEntry(
        seq=seq,
        gen=gen,
        student=student,
        offering="swim",
        status=status,
        at=1_800_000_000_000 + seq,
        actor=student,
        role="student",
        action="drop" if status == "dropped" else "select",
        was="enrolled" if status == "dropped" else None,
        idem=idem,
        fp=None if idem is None else "fp-" + idem,
    )
    return Change(round_id, f"{seq}-0", entry)


async def rows(db: asyncpg.Connection, query: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await db.fetch(query)]


@pytest.fixture
async def pool(db: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await add_students(db, "s1", "s2", "s3", "s4")
    await add_offering(db, "swim", capacity=10)
    await add_round(db, "r1", ["swim"])
    await add_round(db, "r2", ["swim"])
    await db.execute("UPDATE rounds SET generation = 1 WHERE id = 'r1'")
    p = await create_pool(database_url, size=3)
    yield p
    await p.close()


async def test_a_batch_commits_its_fresh_jobs_and_refuses_its_stale_ones(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    writer = RedoWriter(pool)
    fresh = change(1, 1, "s1", idem="k1")
    stale = change(2, 0, "s2", idem="k2")
    # Fresh in r1, stale in r2: the job is one request's, and is committed whole or not at all.
    mixed = [change(3, 1, "s3", idem="k3"), change(1, 7, "s3", round_id="r2")]
    refusal = Answer("s4", "k4", "r1", "fp-k4", 409, b"{}")
    commits = [
        asyncio.create_task(writer.commit([fresh])),
        asyncio.create_task(writer.commit([stale])),
        asyncio.create_task(writer.commit(mixed)),
        asyncio.create_task(writer.commit([], [refusal])),
    ]
    await asyncio.sleep(0)  # all four queued before the writer takes its first batch
    running = asyncio.create_task(writer.run())
    try:
        outcomes = await asyncio.gather(*commits, return_exceptions=True)
    finally:
        running.cancel()
    assert writer.batches == 1
    assert outcomes[0] is None
    assert outcomes[3] is None
    assert isinstance(outcomes[1], NotCommitted)
    assert isinstance(outcomes[2], NotCommitted)
    assert writer.take_committed() == [fresh]
    assert await rows(db, "SELECT round_id, student_id, seq FROM selections") == [("r1", "s1", 1)]
    assert await rows(db, "SELECT round_id, seq FROM audit_events") == [("r1", 1)]
    keys = await rows(db, "SELECT student_id, key, status FROM idempotency_keys ORDER BY key")
    assert keys == [("s1", "k1", 201), ("s4", "k4", 409)]


async def test_a_batch_waiting_for_a_rebuild_reads_the_generation_the_rebuild_committed(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    rebuild = await pool.acquire()
    try:
        transaction = rebuild.transaction()
        await transaction.start()
        await lock_round(rebuild, "r1")
        async with pool.acquire() as conn:
            # Started before the rebuild bumps the generation: a statement that took the lock
            # and read the generation together would see generation 1 and commit the first job.
            batch = asyncio.create_task(commit_batch(conn, [([change(1, 1, "s1")], []), ([change(2, 2, "s2")], [])]))
            await asyncio.sleep(0.3)
            assert not batch.done(), "the batch must wait for the rebuild's exclusive lock"
            await rebuild.execute("UPDATE rounds SET generation = 2 WHERE id = 'r1'")
            await transaction.commit()
            assert await asyncio.wait_for(batch, 5) == {0}
    finally:
        await pool.release(rebuild)
    assert await rows(db, "SELECT student_id, seq FROM selections") == [("s2", 2)]


async def test_a_rebuild_commits_the_redo_log_under_its_own_exclusive_lock(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    rebuild, writer, next_rebuild = await pool.acquire(), await pool.acquire(), await pool.acquire()

    async def rebuild_next() -> None:
        async with next_rebuild.transaction():
            await lock_round(next_rebuild, "r1")

    try:
        async with rebuild.transaction():
            await lock_round(rebuild, "r1")
            # A batch of another process and the next rebuild queue behind this rebuild...
            waiting = asyncio.create_task(commit_batch(writer, [([change(2, 1, "s2")], [])]))
            queued = asyncio.create_task(rebuild_next())
            await asyncio.sleep(0.3)
            # ...and yet this rebuild's own commit of the redo log is granted the shared lock at once.
            assert await asyncio.wait_for(commit_batch(rebuild, [([change(1, 1, "s1")], [])]), 5) == set()
            assert not waiting.done()
            assert not queued.done()
        assert await asyncio.wait_for(waiting, 5) == set()
        await asyncio.wait_for(queued, 5)
    finally:
        for conn in (next_rebuild, writer, rebuild):
            await pool.release(conn)
    assert await rows(db, "SELECT student_id FROM selections ORDER BY student_id") == [("s1",), ("s2",)]


async def test_committing_again_changes_nothing_and_an_older_change_never_wins(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    select, drop = change(1, 1, "s1", idem="k1"), change(2, 1, "s1", status="dropped")
    async with pool.acquire() as conn:
        assert await commit_batch(conn, [([drop], [])]) == set()
        assert await commit_batch(conn, [([select], []), ([drop], [])]) == set()
        assert await commit_batch(conn, [([select], [])]) == set()
    assert await rows(db, "SELECT status, seq FROM selections") == [("dropped", 2)]
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 2
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def test_a_change_postgresql_refuses_is_set_aside_and_the_rest_of_its_batch_commits(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    writer = RedoWriter(pool)
    good = [change(1, 1, "s1"), change(3, 1, "s3")]
    poison = msgspec.structs.replace(
        change(2, 1, "s2"), entry=msgspec.structs.replace(change(2, 1, "s2").entry, actor="a\x00b")
    )
    commits = [asyncio.create_task(writer.commit([c])) for c in (good[0], poison, good[1])]
    await asyncio.sleep(0)  # all three queued before the writer takes its first batch
    running = asyncio.create_task(writer.run())
    try:
        outcomes = await asyncio.gather(*commits, return_exceptions=True)
    finally:
        running.cancel()
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], Poisoned)
    assert writer.take_poisoned_rounds() == {"r1"}
    assert await rows(db, "SELECT student_id FROM selections ORDER BY student_id") == [("s1",), ("s3",)]
    letters = await db.fetch("SELECT round_id, stream_id, convert_from(entry, 'UTF8') AS entry FROM dead_letters")
    assert [(r["round_id"], r["stream_id"]) for r in letters] == [("r1", poison.stream_id)]
    assert msgspec.json.decode(letters[0]["entry"])["actor"] == "a\x00b"
