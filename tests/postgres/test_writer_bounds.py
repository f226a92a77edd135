"""The group commit stays bounded when PostgreSQL hangs or fails: the commit timeout, the bounded
queue, the circuit breaker, a writer that outlives any failure, a bounded wait for a connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import REGISTRY

from lib.database import create_pool
from quota.entries import Change
from selection.group_commit import Breaker, NotCommitted, RedoWriter
from selection.idempotency import Answer
from tests.builders import add_offering, add_round, add_students
from tests.postgres.test_writer import change, rows


class Clock:
    """The breaker's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pool(db: asyncpg.Connection, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await add_students(db, "s1", "s2", "s3", "s4", "s5", "s6")
    await add_offering(db, "swim", capacity=10)
    await add_round(db, "r1", ["swim"])
    await db.execute("UPDATE rounds SET generation = 1 WHERE id = 'r1'")
    p = await create_pool(database_url, size=2, reset_sessions=False)
    yield p
    p.terminate()


@contextlib.asynccontextmanager
async def hanging(database_url: str) -> AsyncIterator[None]:
    """PostgreSQL hangs for r1's commits: the round's lock, held exclusively, makes them wait."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gate:r1'))")
            yield
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running(writer: RedoWriter) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(writer.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def state(writer: RedoWriter) -> Breaker:
    """The breaker's state now (a call, so that a type checker does not hold it fixed between two looks)."""
    return writer.breaker


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def commit(writer: RedoWriter, *changes: Change) -> BaseException | None:
    try:
        await writer.commit(list(changes))
    except NotCommitted as exc:
        return exc
    return None


async def test_a_commit_that_hangs_is_given_up_after_the_timeout(
    db: asyncpg.Connection, pool: asyncpg.Pool, database_url: str
) -> None:
    writer = RedoWriter(pool, timeout=0.3, failures_to_open=10)
    timeouts = sample("selection_commit_timeouts_total")
    async with running(writer) as task:
        async with hanging(database_url):
            outcome = await asyncio.wait_for(commit(writer, change(1, 1, "s1")), 10)
            assert isinstance(outcome, NotCommitted)
            assert sample("selection_commit_timeouts_total") == timeouts + 1
        # The writer goes on, on a connection of its own: the one cut short was closed, not reused.
        assert await asyncio.wait_for(commit(writer, change(2, 1, "s2")), 10) is None
        assert not task.done()
    assert ("s2",) in await rows(db, "SELECT student_id FROM selections")


async def test_a_full_queue_refuses_at_once(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    writer = RedoWriter(pool, queue_limit=2)
    refused = sample("selection_commit_refused_total", reason="queue_full")
    waiting = [asyncio.create_task(commit(writer, change(i, 1, f"s{i}"))) for i in (1, 2)]
    await asyncio.sleep(0)
    assert not writer.accepting
    # Not waiting for the writer, which is not even running: refused before it is queued.
    assert isinstance(await commit(writer, change(3, 1, "s3")), NotCommitted)
    assert sample("selection_commit_refused_total", reason="queue_full") == refused + 1
    async with running(writer):
        assert await asyncio.gather(*waiting) == [None, None]
        assert writer.accepting
    assert await rows(db, "SELECT student_id FROM selections ORDER BY student_id") == [("s1",), ("s2",)]


async def test_places_are_held_from_before_the_gate_until_the_commit_ends(pool: asyncpg.Pool) -> None:
    writer = RedoWriter(pool, queue_limit=2)
    refused = sample("selection_commit_refused_total", reason="queue_full")
    first, second = writer.admit(), writer.admit()
    assert not writer.accepting
    # Refused before its gate decides anything, not after: nothing it would do is left to recover.
    with pytest.raises(NotCommitted):
        writer.admit()
    assert sample("selection_commit_refused_total", reason="queue_full") == refused + 1
    with first:
        pass
    assert writer.accepting
    with second, writer.admit():
        assert not writer.accepting
    assert writer.accepting
    alone = RedoWriter(pool, queue_limit=1)
    async with running(alone):
        with alone.admit():
            # The admitted request's commit is not refused for the place it holds itself.
            assert await commit(alone, change(1, 1, "s1")) is None


async def test_the_breaker_opens_after_failures_in_a_row_and_one_probe_closes_it(
    db: asyncpg.Connection, pool: asyncpg.Pool, database_url: str
) -> None:
    clock = Clock()
    writer = RedoWriter(pool, timeout=0.3, failures_to_open=2, cooldown=5.0, clock=clock)
    timeouts = sample("selection_commit_timeouts_total")
    async with running(writer):
        async with hanging(database_url):
            assert isinstance(await commit(writer, change(1, 1, "s1")), NotCommitted)
            assert state(writer) is Breaker.CLOSED
            assert writer.accepting
            # The second failure in a row opens it; what was queued behind that batch is refused with it.
            second = asyncio.create_task(commit(writer, change(2, 1, "s2")))
            await asyncio.sleep(0.05)
            behind = asyncio.create_task(commit(writer, change(3, 1, "s3")))
            assert isinstance(await second, NotCommitted)
            assert isinstance(await asyncio.wait_for(behind, 1), NotCommitted)
            assert state(writer) is Breaker.OPEN
            assert sample("selection_commit_timeouts_total") == timeouts + 2, "the one queued behind was tried"
            assert sample("selection_commit_breaker_state") == Breaker.OPEN
            # Open: refused at once, and enrollment is told not to ask the gate.
            assert not writer.accepting
            assert writer.refusal() == "breaker_open"
            assert isinstance(await asyncio.wait_for(commit(writer, change(4, 1, "s4")), 0.1), NotCommitted)

            # After the cool-down one batch probes; it fails, and the breaker opens again.
            clock.now += 5.0
            assert writer.accepting
            probe = asyncio.create_task(commit(writer, change(5, 1, "s5")))
            await asyncio.sleep(0.05)
            assert state(writer) is Breaker.HALF_OPEN
            assert not writer.accepting, "only the probe goes to PostgreSQL while it is under way"
            assert isinstance(await probe, NotCommitted)
            assert state(writer) is Breaker.OPEN
            assert not writer.accepting

        clock.now += 5.0
        assert await commit(writer, change(6, 1, "s6")) is None
        assert state(writer) is Breaker.CLOSED
        assert sample("selection_commit_breaker_state") == Breaker.CLOSED
        assert writer.accepting
    assert ("s6",) in await rows(db, "SELECT student_id FROM selections")


async def test_the_writer_outlives_a_batch_that_fails_unexpectedly(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    writer = RedoWriter(pool)
    # A fault of the service, not an outage: an answer that is not UTF-8 cannot be encoded.
    broken = Answer("s1", "k1", "r1", "fp", 201, b"\xff")
    async with running(writer) as task:
        with pytest.raises(NotCommitted):
            await asyncio.wait_for(writer.commit([], [broken]), 10)
        assert not task.done()
        assert await asyncio.wait_for(commit(writer, change(1, 1, "s2")), 10) is None
    assert await rows(db, "SELECT student_id FROM selections") == [("s2",)]


async def test_closing_commits_what_is_queued_and_refuses_the_rest(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    writer = RedoWriter(pool)
    queued = [asyncio.create_task(commit(writer, change(i, 1, f"s{i}"))) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    async with running(writer) as task:
        await asyncio.wait_for(writer.close(5), 10)
        assert task.done()
        assert await asyncio.gather(*queued) == [None, None, None]
        assert not writer.accepting
        assert isinstance(await commit(writer, change(4, 1, "s4")), NotCommitted)
    assert len(await rows(db, "SELECT student_id FROM selections")) == 3


async def test_closing_a_writer_stuck_on_postgres_answers_its_requests(pool: asyncpg.Pool, database_url: str) -> None:
    writer = RedoWriter(pool, timeout=30)
    async with running(writer) as task, hanging(database_url):
        stuck = asyncio.create_task(commit(writer, change(1, 1, "s1")))
        await asyncio.sleep(0.1)
        behind = asyncio.create_task(commit(writer, change(2, 1, "s2")))
        await asyncio.sleep(0)
        await writer.close(0.2)
        # What is still queued is answered; the batch under way, when its task is stopped.
        assert isinstance(await asyncio.wait_for(behind, 1), NotCommitted)
        task.cancel()
        assert isinstance(await asyncio.wait_for(stuck, 1), NotCommitted)


async def test_every_wait_for_a_connection_is_bounded(database_url: str) -> None:
    pool = await create_pool(database_url, size=1, acquire_timeout=0.2)
    try:
        async with pool.acquire():
            # pool.fetchval() takes a connection of its own, without a timeout of its own.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pool.fetchval("SELECT 1"), 10)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pool.acquire(), 10)
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
