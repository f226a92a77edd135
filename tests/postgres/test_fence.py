"""The group commit fences off what a gate decided after it went back in time (Redis restored from
old data): a sequence number handed out twice, or one handed out after a higher one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from lib.database import create_pool
from quota.entries import Change, RedoEntry
from selection.group_commit import commit_batch
from tests.builders import add_offering, add_round, add_students

GEN = 1
BASE = 1_800_000_000_000


def decided(seq: int, student: str, *, at_ms: int, offering: str = "swim") -> Change:
    entry = RedoEntry(
        seq=seq,
        gen=GEN,
        student=student,
        offering=offering,
        status="enrolled",
        at=BASE + at_ms,
        actor=student,
        role="student",
        action="select",
    )
    return Change("r1", f"{BASE + at_ms}-{seq}", entry)


@pytest.fixture
async def pool(db: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await add_students(db, "s1", "s2", "s3", "s4")
    await add_offering(db, "swim", capacity=10)
    await add_offering(db, "yoga", capacity=10)
    await add_round(db, "r1", ["swim", "yoga"])
    await db.execute("UPDATE rounds SET generation = $1 WHERE id = 'r1'", GEN)
    p = await create_pool(database_url, size=2)
    yield p
    await p.close()


async def commit(pool: asyncpg.Pool, *changes: Change) -> set[int]:
    async with pool.acquire() as conn:
        return await commit_batch(conn, [([c], []) for c in changes])


async def generation(db: asyncpg.Connection) -> int:
    value: int = await db.fetchval("SELECT generation FROM rounds WHERE id = 'r1'")
    return value


async def test_a_sequence_number_handed_out_twice_is_refused_and_moves_the_generation_on(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    assert await commit(pool, decided(10, "s1", at_ms=0), decided(11, "s2", at_ms=1)) == set()
    # A gate restored to before seq 11 hands 11 out again, to another student.
    assert await commit(pool, decided(11, "s3", at_ms=5)) == {0}
    assert await generation(db) == GEN + 1
    students = [r["student_id"] for r in await db.fetch("SELECT student_id FROM selections ORDER BY student_id")]
    assert students == ["s1", "s2"]
    audited = await db.fetch("SELECT seq, student_id FROM audit_events WHERE seq IS NOT NULL ORDER BY seq")
    assert [(r["seq"], r["student_id"]) for r in audited] == [(10, "s1"), (11, "s2")]


async def test_a_number_below_one_the_gate_handed_out_earlier_is_refused(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    # 12 committed; 11 was never committed (its process died, its redo log lost with Redis).
    assert await commit(pool, decided(10, "s1", at_ms=0), decided(12, "s2", at_ms=2)) == set()
    # A restored gate hands out 11 later than 12 was decided: it decided without 12.
    assert await commit(pool, decided(11, "s3", at_ms=9)) == {0}
    assert await generation(db) == GEN + 1
    assert await db.fetchval("SELECT count(*) FROM selections WHERE student_id = 's3'") == 0


async def test_a_healthy_gate_committed_out_of_order_or_twice_is_not_refused(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    # Two processes: 12 is committed before 11, which was decided before it.
    assert await commit(pool, decided(12, "s2", at_ms=3)) == set()
    assert await commit(pool, decided(11, "s1", at_ms=2)) == set()
    # Decided in the same millisecond, committed in the other order.
    assert await commit(pool, decided(14, "s4", at_ms=5)) == set()
    assert await commit(pool, decided(13, "s3", at_ms=5)) == set()
    # Recovery commits a change its own process already committed.
    assert await commit(pool, decided(11, "s1", at_ms=2)) == set()
    assert await generation(db) == GEN
    assert await db.fetchval("SELECT count(*) FROM selections") == 4


async def test_only_the_fenced_job_is_refused_and_the_rest_of_its_batch_commits(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    assert await commit(pool, decided(20, "s1", at_ms=0)) == set()
    fresh_in_other_round = Change(
        "r2", "x-1", msgspec.structs.replace(decided(1, "s4", at_ms=1).entry, gen=0, offering="swim")
    )
    await add_round(db, "r2", ["swim"])
    stale = await commit(pool, decided(20, "s2", at_ms=4), fresh_in_other_round)
    assert stale == {0}
    assert await db.fetchval("SELECT count(*) FROM selections WHERE round_id = 'r2'") == 1


async def test_a_change_a_rebuild_already_committed_is_done_not_stale(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    # A rebuild commits the redo log, then moves the generation on; the change's own writer
    # commits it afterwards: it is committed, and its request may be told so.
    assert await commit(pool, decided(30, "s1", at_ms=0)) == set()
    await db.execute("UPDATE rounds SET generation = generation + 1 WHERE id = 'r1'")
    assert await commit(pool, decided(30, "s1", at_ms=0)) == set()
    # Not committed before the generation moved on: stale.
    assert await commit(pool, decided(31, "s2", at_ms=1)) == {0}
    assert await generation(db) == GEN + 1
