"""Many students at once: exactly the seats there are, and the invariants hold after a storm."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable

import asyncpg
import redis.asyncio as aioredis

from lib.settings import Settings
from tests.builders import Client, add_offering, add_round, add_students, announce, weekly
from tests.invariants import checked

Headers = Callable[[str], dict[str, str]]


async def test_a_thousand_selects_for_thirty_seats(
    db: asyncpg.Connection, client: Client, as_student: Headers, settings: Settings
) -> None:
    students = [f"s{i:04d}" for i in range(1000)]
    await add_students(db, *students)
    await add_offering(db, "swim", capacity=30)
    await add_round(db, "r1", ["swim"])
    await announce(client, "r1")

    async def take(sid: str) -> int:
        response = await client.post(
            "/api/v1/rounds/r1/selections", json={"offering_id": "swim"}, headers=as_student(sid)
        )
        assert response.status_code in (201, 409), response.text
        if response.status_code == 409:
            assert response.json()["code"] == "course_full"
        return response.status_code

    outcomes = Counter(await asyncio.gather(*(take(s) for s in students)))
    assert outcomes == {201: 30, 409: 970}
    assert await db.fetchval("SELECT count(*) FROM selections WHERE status = 'enrolled'") == 30
    report = await checked(settings)
    assert report.clean, report.text()


async def test_storm_of_selects_and_drops_keeps_every_invariant(
    db: asyncpg.Connection, client: Client, as_student: Headers, settings: Settings
) -> None:
    students = [f"s{i:03d}" for i in range(300)]
    await add_students(db, *students)
    hot = [
        ("swim", "pe", "mon", "14:00", "15:00", 8),
        ("badminton", "pe", "mon", "14:30", "15:30", 6),
        ("yoga", "pe", "tue", "10:00", "11:00", 10),
        ("ceramics", "arts", "wed", "09:00", "11:00", 5),
        ("choir", "arts", "wed", "10:00", "12:00", 12),
        ("garden", "labor", "thu", "13:00", "15:00", 7),
    ]
    for oid, category, day, start, end, capacity in hot:
        await add_offering(db, oid, capacity=capacity, category=category, schedule=[weekly(day, start, end)])
    await add_round(db, "r1", [h[0] for h in hot], waitlist=True, limits={"pe": 2, "arts": 1, "total": 3})
    await announce(client, "r1")
    rng = random.Random(7)
    offerings = [h[0] for h in hot]
    path = "/api/v1/rounds/r1/selections"
    acknowledged: list[tuple[str, str, int]] = []

    async def student(sid: str) -> None:
        for _ in range(6):
            offering = rng.choice(offerings)
            if rng.random() < 0.3:
                response = await client.delete(f"{path}/{offering}", headers=as_student(sid))
                assert response.status_code in (204, 404), response.text
            else:
                body = {"offering_id": offering, "waitlist": rng.random() < 0.5}
                response = await client.post(path, json=body, headers=as_student(sid))
                assert response.status_code in (201, 202, 409), response.text
            acknowledged.append((sid, offering, response.status_code))

    await asyncio.gather(*(student(s) for s in students))
    statuses = Counter(code for _, _, code in acknowledged)
    assert statuses[201] > 0
    assert statuses[202] > 0
    assert statuses[204] > 0
    report = await checked(settings)
    assert report.clean, report.text()


async def test_the_checker_sees_a_disagreement(
    db: asyncpg.Connection, client: Client, as_student: Headers, settings: Settings, redis: aioredis.Redis
) -> None:
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=3)
    await add_round(db, "r1", ["swim"])
    await announce(client, "r1")
    assert (
        await client.post("/api/v1/rounds/r1/selections", json={"offering_id": "swim"}, headers=as_student("s1"))
    ).status_code == 201
    assert (await checked(settings)).clean
    await redis.hincrby(f"{settings.redis_namespace}{{round:r1}}:enr", "swim", 1)
    report = await checked(settings)
    assert not report.clean
    assert "enrolled Redis 2 != PostgreSQL 1" in report.text()
    await db.execute("UPDATE offerings SET capacity = 0 WHERE id = 'swim'")
    assert "1 enrolled for capacity 0" in (await checked(settings)).text()
