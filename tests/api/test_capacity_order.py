"""Capacity changes reach PostgreSQL first and the gate second; whatever falls between the two (a
gate that did not answer, a worker that died, a seat taken meanwhile) is brought back in step,
so that the two stores never disagree for good."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from courses.students import StudentProfile
from lib.settings import Settings
from quota.intents import SelectIntent
from selection.worker import Worker
from tests.builders import add_offering, add_round, add_students
from tests.invariants import checked


def select(student: str, *, waitlist: bool = False) -> SelectIntent:
    return SelectIntent(
        round_id="r1",
        student=StudentProfile(student, 2024, "master", "north"),
        offering_id="swim",
        waitlist=waitlist,
        mode="student",
        actor=student,
        role="student",
    )


@pytest.fixture
async def worker(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Worker]:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_round(db, "r1", ["swim"], waitlist=True)
    # The background loops wait long enough for each test to drive reconciliation itself.
    w = await Worker.start(msgspec.structs.replace(settings, gate_upkeep_seconds=30.0))
    try:
        yield w
    finally:
        await w.close()


async def status_of(db: asyncpg.Connection, student: str) -> str | None:
    value: str | None = await db.fetchval("SELECT status FROM selections WHERE student_id = $1", student)
    return value


async def test_a_capacity_the_gate_missed_is_taken_and_its_free_seat_given(
    worker: Worker, db: asyncpg.Connection, settings: Settings
) -> None:
    await worker.enrollment.select(select("s1"))
    await worker.enrollment.select(select("s2", waitlist=True))
    # PostgreSQL recorded a raise; the worker that made it died before telling the gate.
    await db.execute("UPDATE offerings SET capacity = 2 WHERE id = 'swim'")
    assert await worker.sync.reconcile("r1") == 1
    capacity, enrolled, waiting = await worker.gate.live_counts("r1")
    assert (capacity["swim"], enrolled["swim"], waiting["swim"]) == (2, 2, 0)
    assert await status_of(db, "s2") == "enrolled"
    assert await worker.sync.reconcile("r1") == 0
    await worker.recovery.acknowledge_committed()
    report = await checked(settings)
    assert report.clean, report.text()


async def test_a_cut_the_gate_cannot_take_is_put_back_in_postgresql(
    worker: Worker, db: asyncpg.Connection, settings: Settings
) -> None:
    await db.execute("UPDATE offerings SET capacity = 2 WHERE id = 'swim'")
    await worker.sync.reconcile("r1")
    await worker.enrollment.select(select("s1"))
    await worker.enrollment.select(select("s2"))
    # A cut to one seat reached PostgreSQL while the gate had given both: it cannot stand.
    await db.execute("UPDATE offerings SET capacity = 1 WHERE id = 'swim'")
    await worker.sync.reconcile("r1")
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'swim'") == 2
    reverted = await db.fetchval("SELECT detail FROM audit_events WHERE action = 'capacity.revert'")
    assert reverted == "capacity 1 -> 2"
    await worker.recovery.acknowledge_committed()
    report = await checked(settings)
    assert report.clean, report.text()


async def test_a_rebuilt_state_gives_its_free_seats_to_waiting_students(
    worker: Worker, db: asyncpg.Connection, settings: Settings
) -> None:
    await worker.enrollment.select(select("s1"))
    await worker.enrollment.select(select("s2", waitlist=True))
    await db.execute("UPDATE offerings SET capacity = 2 WHERE id = 'swim'")
    # Redis lost its data and the round was rebuilt from PostgreSQL: a free seat, a waiting student.
    await worker.recovery.rebuild("r1", force=True)
    _, enrolled, waiting = await worker.gate.live_counts("r1")
    assert (enrolled["swim"], waiting["swim"]) == (1, 1)
    await worker.sync.reconcile("r1")
    assert await status_of(db, "s2") == "enrolled"
    await worker.recovery.acknowledge_committed()
    report = await checked(settings)
    assert report.clean, report.text()
