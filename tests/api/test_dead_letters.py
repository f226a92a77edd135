"""One change PostgreSQL refuses for what it holds never blocks its batch or its round: it is set
aside as a dead letter, its round is rebuilt, and an operator sees it.

Such a change cannot come through the routes (the edge refuses what PostgreSQL would); here it is
decided by the gate directly, with an actor PostgreSQL's text cannot hold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from courses.models import Selection
from courses.students import StudentProfile
from lib.errors import DomainError
from lib.settings import Settings
from quota.intents import SelectIntent
from selection.worker import Worker
from tests.builders import Client, add_offering, add_round, add_students
from tests.invariants import checked

PATH = "/api/v1/rounds/r1/selections"
POISON_ACTOR = "adm\u0000in"


@pytest.fixture
async def worker(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Worker]:
    """A worker of this test's own, on its event loop (the app's runs on the test client's)."""
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_offering(db, "yoga", capacity=5, category="arts")
    await add_round(db, "r1", ["swim", "yoga"])
    w = await Worker.start(settings)
    try:
        yield w
    finally:
        await w.close()


def poisoned_select(student: str = "s1") -> SelectIntent:
    return SelectIntent(
        round_id="r1",
        student=StudentProfile(student, 2024, "master", "north"),
        offering_id="swim",
        waitlist=False,
        mode="admin",
        actor=POISON_ACTOR,
        role="admin",
    )


async def until_decided(worker: Worker, intent: SelectIntent, seconds: float = 10.0) -> object:
    """The select's outcome, repeated until the round is rebuilt: while it is (503), and before
    the upkeep loop has begun the rebuild, when the gate still counts the set-aside seat
    (course_full)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await worker.enrollment.select(intent)
        except DomainError as exc:
            if exc.code not in ("unavailable", "course_full") or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_a_refused_change_is_set_aside_and_its_round_rebuilt(
    worker: Worker, client: Client, db: asyncpg.Connection, admin: dict[str, str], settings: Settings
) -> None:
    with pytest.raises(DomainError) as refused:
        await worker.enrollment.select(poisoned_select())
    assert refused.value.status == 500
    assert await db.fetchval("SELECT count(*) FROM dead_letters WHERE round_id = 'r1'") == 1
    assert await db.fetchval("SELECT count(*) FROM selections") == 0
    # The gate had taken the seat; the rebuild gives it back, and the round decides again.
    taken = await until_decided(worker, msgspec.structs.replace(poisoned_select("s2"), actor="admin"))
    assert isinstance(taken, Selection)
    assert taken.status == "enrolled"
    report = await checked(settings)
    assert report.clean, report.text()
    assert report.dead_letters == 1
    assert "1 change(s) set aside" in report.text()
    listed = await client.get("/api/v1/admin/dead-letters", headers=admin)
    assert listed.status_code == 200
    [letter] = listed.json()
    assert (letter["round_id"], letter["error"].split(":")[0]) == ("r1", "UntranslatableCharacterError")
    assert '"offering":"swim"' in letter["entry"]
    assert "selection_dead_letters_total" in (await client.get("/metrics")).text


async def test_a_refused_change_in_the_redo_log_does_not_stop_a_rebuild(
    worker: Worker, db: asyncpg.Connection, settings: Settings
) -> None:
    # Decided, and its process died before committing it: only the redo log holds it.
    decision = await worker.gate.select(poisoned_select())
    assert decision.status == "enrolled"
    loaded = await worker.recovery.rebuild("r1", force=True)
    assert loaded is not None
    assert await worker.gate.loaded_generation("r1") == loaded.generation
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1
    counts = await worker.gate.live_counts("r1")
    assert counts[1]["swim"] == 0
    report = await checked(settings)
    assert report.clean, report.text()
