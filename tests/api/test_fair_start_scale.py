"""A whole cohort held by one window at once (7,390 selects in one worker process): every one
answered with its normal answer after the window, the seats exactly filled, and the waiting
costing the process no CPU to speak of."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
import redis.asyncio as aioredis

from courses.students import StudentProfile
from lib import errors
from lib.settings import Settings
from quota.intents import SelectIntent
from selection.worker import Worker
from tests.builders import add_offering, add_round, add_students
from tests.invariants import checked

COHORT = 7390
OFFERINGS = {f"o{i}": 300 for i in range(10)}
#: Long enough for a loaded 2-core machine to hold the whole cohort before it ends (about 5 s when
#: the machine is quiet, over 12 s seen when it is not); the test waits out the rest.
WINDOW_SECONDS = 30


async def test_a_cohort_held_at_once(db: asyncpg.Connection, settings: Settings, redis: aioredis.Redis) -> None:
    students = [f"c{i:05d}" for i in range(COHORT)]
    await add_students(db, *students)
    for offering_id, capacity in OFFERINGS.items():
        await add_offering(db, offering_id, capacity=capacity)
    await add_round(db, "r1", list(OFFERINGS))
    await db.execute(
        """UPDATE rounds SET fair_start_seconds = $1, fair_start_seed = 'cohort', opened_at = now(),
                  generation = generation + 1 WHERE id = 'r1'""",
        WINDOW_SECONDS,
    )
    worker = await Worker.start(settings)
    try:
        meta = f"{settings.redis_namespace}{{round:r1}}:meta"
        deadline = time.monotonic() + 10
        while not await redis.hget(meta, "fs_end") or await worker.gate.loaded_generation("r1") is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        ends = int(await redis.hget(meta, "fs_end") or 0) / 1000

        async def select(i: int, student_id: str) -> str:
            intent = SelectIntent(
                round_id="r1",
                student=StudentProfile(student_id, 2024, "master", "north"),
                offering_id=f"o{i % len(OFFERINGS)}",
                waitlist=False,
                mode="student",
                actor=student_id,
                role="student",
                rate=worker.enrollment.student_rate,
            )
            try:
                await worker.enrollment.select(intent)
            except errors.DomainError as refused:
                return refused.code
            return "enrolled"

        tasks = [asyncio.create_task(select(i, s)) for i, s in enumerate(students)]
        held_key = f"{settings.redis_namespace}{{round:r1}}:fs:held"
        while await redis.hlen(held_key) < COHORT:
            assert time.time() < ends, f"only {await redis.hlen(held_key)} held before the window's end"
            await asyncio.sleep(0.1)
        assert worker.fair_start.waiting() == COHORT
        # Everyone waits: the process does next to nothing meanwhile.
        wait = min(1.5, ends - time.time() - 0.2)
        assert wait > 0.5, "the window ended before the test could watch the waiting"
        cpu = time.process_time()
        await asyncio.sleep(wait)
        busy = time.process_time() - cpu
        assert busy < 0.25 * wait, f"{busy:.3f} s of CPU in {wait:.2f} s of waiting"
        assert not any(t.done() for t in tasks)
        outcomes = Counter(await asyncio.gather(*tasks))
        decided_in = time.time() - ends
    finally:
        await worker.close()
    assert outcomes == {"enrolled": sum(OFFERINGS.values()), "course_full": COHORT - sum(OFFERINGS.values())}
    assert decided_in < 60, decided_in
    assert await db.fetchval("SELECT count(*) FROM selections WHERE status = 'enrolled'") == sum(OFFERINGS.values())
    report = await checked(settings)
    assert report.clean, report.text()
