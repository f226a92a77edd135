"""The fair-start window against the real service (``selection serve --workers 2``, its own Valkey):
a worker killed with held requests and at the window's end, and Redis restarted empty mid-window."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import time

import asyncpg
import httpx
import redis.asyncio as aioredis

from tests.builders import add_offering, add_round, add_students
from tests.crash.test_crash import ROUND, Launch, auth, bounded, http

SEED = "crash-test-seed"
SEATS = {"swim": 20, "yoga": 15, "clay": 25}


def rank(student_id: str) -> str:
    return hashlib.sha256((SEED + ":" + student_id).encode()).hexdigest()


async def arrange(db: asyncpg.Connection, students: int) -> tuple[list[str], dict[str, str]]:
    ids = [f"s{i:03d}" for i in range(students)]
    await add_students(db, *ids)
    for oid, capacity in SEATS.items():
        await add_offering(db, oid, capacity=capacity)
    await add_round(db, ROUND, list(SEATS), state="draft")
    rng = random.Random(7)
    return ids, {s: rng.choice(list(SEATS)) for s in ids}


async def open_window(db: asyncpg.Connection, seconds: int) -> float:
    """Open the round with its window, in PostgreSQL; the service's upkeep carries it over."""
    opened = await db.fetchval(
        """UPDATE rounds SET state = 'open', state_version = state_version + 1, fair_start_seconds = $2,
                  fair_start_seed = $3, opened_at = now() WHERE id = $1 RETURNING opened_at""",
        ROUND,
        seconds,
        SEED,
    )
    return float(opened.timestamp()) + seconds


async def select(client: httpx.AsyncClient, student: str, offering: str) -> int | None:
    """The status, or None when the connection broke."""
    try:
        response = await client.post(
            f"/api/v1/rounds/{ROUND}/selections",
            json={"offering_id": offering},
            headers={**auth(student), "Idempotency-Key": f"k-{student}"},
        )
    except httpx.TransportError:
        return None
    return response.status_code


@bounded(120)
async def test_a_worker_killed_at_the_window_end_changes_no_seeded_outcome(
    db: asyncpg.Connection, launch: Launch
) -> None:
    students, wishes = await arrange(db, 300)
    live = await launch(settings={"SELECTION_RECOVERY_AFTER_SECONDS": "1"})
    await asyncio.sleep(0.5)
    ends = await open_window(db, 4)
    await asyncio.sleep(0.6)  # the upkeep carries the opening over (0.2 s)
    async with (
        httpx.AsyncClient(
            base_url=live.service.base_url,
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=len(students) + 10),
            trust_env=False,
        ) as client,
        aioredis.Redis.from_url(live.redis.url) as redis,
    ):
        tasks = [asyncio.create_task(select(client, s, wishes[s])) for s in students]
        # Every select is held before the window ends (none arrives late).
        held = f"{{round:{ROUND}}}:fs:held"
        while await redis.hlen(held) < len(students):
            assert time.time() < ends - 0.2, f"{await redis.hlen(held)} held before the window's end"
            await asyncio.sleep(0.05)
        # Both workers hold requests; one of them dies as the window's decision starts (it may
        # be the decider, mid-way, or the holder of requests being decided).
        await asyncio.sleep(max(0.0, ends - time.time()) + 0.03)
        os.kill(live.service.worker_pids()[0], signal.SIGKILL)
        first = dict(zip(students, await asyncio.gather(*tasks), strict=True))
        # Every request that got no answer is repeated with its key until it gets one.
        deadline = time.monotonic() + 60
        answers = dict(first)
        while (missing := [s for s, status in answers.items() if status not in (201, 409)]) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.5)
            for s in missing:
                answers[s] = await select(client, s, wishes[s])
    assert not [s for s, status in answers.items() if status not in (201, 409)], answers
    assert any(status is None or status == 503 for status in first.values()), "the kill interrupted nothing"
    # The outcome the seeded order gives, computed here: each offering's seats go to the students
    # who want it, in ascending sha256(seed:student).
    expected: dict[str, int] = {}
    for offering, seats in SEATS.items():
        wanting = sorted((s for s in students if wishes[s] == offering), key=rank)
        expected |= {s: 201 if i < seats else 409 for i, s in enumerate(wanting)}
    assert answers == expected
    enrolled = {r["student_id"] for r in await db.fetch("SELECT student_id FROM selections WHERE status = 'enrolled'")}
    assert enrolled == {s for s, status in expected.items() if status == 201}
    code, report = await live.service.cli("check")
    assert code == 0, report


@bounded(120)
async def test_redis_restarted_empty_mid_window_acknowledges_no_held_select(
    db: asyncpg.Connection, launch: Launch
) -> None:
    students, wishes = await arrange(db, 60)
    live = await launch()
    await asyncio.sleep(0.5)
    await open_window(db, 5)
    await asyncio.sleep(0.6)
    async with http(live) as client:
        client.timeout = httpx.Timeout(60.0)
        tasks = [asyncio.create_task(select(client, s, wishes[s])) for s in students]
        await asyncio.sleep(1.0)
        live.redis.stop()
        live.redis.start()
        statuses = await asyncio.gather(*tasks)
    assert set(statuses) == {503}, statuses
    assert await db.fetchval("SELECT count(*) FROM selections") == 0
