"""GET /api/v1/admin/rounds/{round_id}/fairness: how a round's outcome fell across students."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from lib.settings import Settings
from quota.gate import SeatGate
from selection.attempts import AttemptLog
from tests.builders import Client, add_offering, add_round, add_students, announce, weekly

Headers = Callable[[str], dict[str, str]]
R = "r1"
ADMIN = "/api/v1/admin"


def groups(report: dict[str, Any], key: str) -> dict[str, tuple[int, int, int, int]]:
    """group -> (students, first wish, any wish, nothing)."""
    return {g["group"]: (g["students"], g["first_wish"], g["any_wish"], g["nothing"]) for g in report[key]}


async def fairness(client: Client, admin: dict[str, str], round_id: str = R) -> dict[str, Any]:
    response = await client.get(f"{ADMIN}/rounds/{round_id}/fairness", headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def select(client: Client, headers: dict[str, str], offering: str) -> int:
    response = await client.post(f"/api/v1/rounds/{R}/selections", json={"offering_id": offering}, headers=headers)
    return response.status_code


@pytest.fixture
async def fcfs_round(db: asyncpg.Connection, client: Client, as_student: Headers) -> None:
    """a1 gets their first wish; a2 is refused theirs and gets another; a3 gets nothing; a4 gets
    their first wish; p1 only ever tries offerings they may not take (not counted)."""
    await add_students(db, "a1", cohort=2024)
    await add_students(db, "a2", cohort=2024, degree="phd")
    await add_students(db, "a3", "a4", cohort=2025, campus="south")
    await add_students(db, "p1", cohort=2025, degree="phd")
    await add_offering(db, "swim", capacity=1, schedule=[weekly("mon", "08:00", "09:00")])
    await add_offering(db, "yoga", capacity=5, category="arts", schedule=[weekly("tue", "08:00", "09:00")])
    await add_offering(db, "masters", capacity=5, category="labor", eligibility={"degrees": ["master"]})
    await add_offering(db, "elsewhere", capacity=5)
    await add_round(db, R, ["swim", "yoga", "masters"])
    await announce(client, R)
    assert await select(client, as_student("a1"), "swim") == 201
    assert await select(client, as_student("a2"), "swim") == 409
    assert await select(client, as_student("a2"), "yoga") == 201
    assert await select(client, as_student("a3"), "elsewhere") == 409  # not in the round: not an attempt
    assert await select(client, as_student("a3"), "swim") == 409
    assert await select(client, as_student("a4"), "yoga") == 201
    assert await select(client, as_student("p1"), "masters") == 409  # not eligible: not an attempt
    assert await select(client, as_student("a2"), "swim") == 409  # a repeat keeps the first time


@pytest.mark.usefixtures("fcfs_round")
async def test_fcfs_report_counts_attempts_and_what_they_got(client: Client, admin: dict[str, str]) -> None:
    report = await fairness(client, admin)
    assert (report["round_id"], report["mode"], report["state"], report["students"]) == (R, "fcfs", "open", 4)
    assert "first attempt" in report["basis"]
    overall = report["overall"]
    assert (overall["students"], overall["first_wish"], overall["any_wish"], overall["nothing"]) == (4, 2, 3, 1)
    assert (overall["first_wish_share"], overall["any_wish_share"], overall["nothing_share"]) == (0.5, 0.75, 0.25)
    assert groups(report, "by_cohort") == {"2024": (2, 1, 2, 0), "2025": (2, 1, 1, 1)}
    assert groups(report, "by_degree") == {"master": (3, 2, 2, 1), "phd": (1, 0, 1, 0)}
    assert groups(report, "by_campus") == {"north": (2, 1, 2, 0), "south": (2, 1, 1, 1)}
    # Four students in arrival order a1, a2, a3, a4 fall in deciles 1, 3, 6, 8.
    assert groups(report, "by_arrival_decile") == {
        "1": (1, 1, 1, 0),
        "3": (1, 0, 1, 0),
        "6": (1, 0, 0, 1),
        "8": (1, 1, 1, 0),
    }
    assert [g["group"] for g in report["by_arrival_decile"]] == ["1", "3", "6", "8"]


@pytest.mark.usefixtures("fcfs_round")
async def test_got_is_what_the_student_holds_now(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    assert (await client.delete(f"/api/v1/rounds/{R}/selections/swim", headers=as_student("a1"))).status_code == 204
    # a1's first wish is gone, and a3 takes the seat a1 freed: a3 got their first wish after all.
    assert await select(client, as_student("a3"), "swim") == 201
    report = await fairness(client, admin)
    overall = report["overall"]
    assert (overall["students"], overall["first_wish"], overall["any_wish"], overall["nothing"]) == (4, 2, 3, 1)
    assert groups(report, "by_arrival_decile")["1"] == (1, 0, 0, 1)
    assert groups(report, "by_arrival_decile")["6"] == (1, 1, 1, 0)


@pytest.mark.usefixtures("fcfs_round")
async def test_attempts_are_copied_to_postgresql_and_outlive_redis(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, redis: Redis, settings: Settings
) -> None:
    closed = await client.post(f"{ADMIN}/rounds/{R}/close", headers=admin)
    assert closed.status_code == 200
    # Copied before anyone asked for the report (by the close, or by the workers' upkeep copy).
    rows = await db.fetch(
        "SELECT student_id, offering_id, first_at FROM select_attempts WHERE round_id = $1 ORDER BY first_at", R
    )
    assert [(r["student_id"], r["offering_id"]) for r in rows] == [
        ("a1", "swim"),
        ("a2", "swim"),
        ("a2", "yoga"),
        ("a3", "swim"),
        ("a4", "yoga"),
    ]
    before = await fairness(client, admin)
    async for key in redis.scan_iter(match=settings.redis_namespace + "*"):
        await redis.delete(key)
    await announce(client, R)
    after = await fairness(client, admin)
    for key in ("students", "overall", "by_cohort", "by_degree", "by_campus", "by_arrival_decile"):
        assert after[key] == before[key], key
    assert after["state"] == "closed"


async def test_a_copied_attempt_keeps_its_first_time(
    db: asyncpg.Connection, client: Client, admin: dict[str, str], as_student: Headers
) -> None:
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=0)
    await add_offering(db, "yoga", capacity=5, category="arts")
    await add_round(db, R, ["swim", "yoga"])
    await announce(client, R)
    assert await select(client, as_student("s1"), "swim") == 409
    await fairness(client, admin)  # copies, and the gate forgets what it copied
    first = await db.fetchval("SELECT first_at FROM select_attempts WHERE student_id = 's1'")
    assert await select(client, as_student("s1"), "yoga") == 201
    assert await select(client, as_student("s1"), "swim") == 409  # noted again in the gate, later
    report = await fairness(client, admin)
    assert await db.fetchval("SELECT first_at FROM select_attempts WHERE offering_id = 'swim'") == first
    # The first wish is still swim (never got), yoga is a wish got.
    assert (report["overall"]["first_wish"], report["overall"]["any_wish"]) == (0, 1)


async def test_lottery_report_reads_the_wish_lists(
    db: asyncpg.Connection, client: Client, admin: dict[str, str]
) -> None:
    await add_students(db, "b1", "b2", cohort=2024)
    await add_students(db, "b3", "b4", cohort=2025, degree="phd")
    for offering in ("swim", "yoga", "run"):
        await add_offering(db, offering, capacity=5)
    await add_round(db, "lot", ["swim", "yoga", "run"], mode="lottery", state="closed")
    await db.executemany(
        "INSERT INTO wishes (round_id, student_id, offering_ids, updated_at) VALUES ('lot', $1, $2, now())",
        [("b1", ["swim", "yoga"]), ("b2", ["swim", "run"]), ("b3", ["yoga"]), ("b4", [])],
    )
    await announce(client, "lot")
    for student, offering in (("b1", "swim"), ("b2", "run"), ("b4", "yoga")):
        response = await client.post(
            f"{ADMIN}/rounds/lot/selections",
            json={"student_id": student, "offering_id": offering, "override": True},
            headers=admin,
        )
        assert response.status_code == 201, response.text
    report = await fairness(client, admin, "lot")
    assert (report["mode"], report["students"], report["by_arrival_decile"]) == ("lottery", 3, [])
    assert "wish list" in report["basis"]
    overall = report["overall"]
    assert (overall["first_wish"], overall["any_wish"], overall["nothing"]) == (1, 2, 1)
    assert overall["first_wish_share"] == round(1 / 3, 4)
    assert groups(report, "by_cohort") == {"2024": (2, 1, 2, 0), "2025": (1, 0, 0, 1)}
    assert groups(report, "by_degree") == {"master": (2, 1, 2, 0), "phd": (1, 0, 0, 1)}


async def test_unknown_round_is_404_and_students_are_refused(
    db: asyncpg.Connection, client: Client, admin: dict[str, str], as_student: Headers
) -> None:
    await add_students(db, "s1")
    response = await client.get(f"{ADMIN}/rounds/nope/fairness", headers=admin)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = await client.get(f"{ADMIN}/rounds/nope/fairness", headers=as_student("s1"))
    assert response.status_code == 403


async def test_an_empty_round_reports_zeros(db: asyncpg.Connection, client: Client, admin: dict[str, str]) -> None:
    await add_offering(db, "swim", capacity=1)
    await add_round(db, R, ["swim"])
    await announce(client, R)
    report = await fairness(client, admin)
    assert report["students"] == 0
    assert report["overall"] == {
        "group": "all",
        "students": 0,
        "first_wish": 0,
        "any_wish": 0,
        "nothing": 0,
        "first_wish_share": 0.0,
        "any_wish_share": 0.0,
        "nothing_share": 0.0,
    }
    assert (report["by_cohort"], report["by_arrival_decile"]) == ([], [])


async def test_the_report_is_documented_with_an_example(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/api/v1/admin/rounds/{round_id}/fairness"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/FairnessReport"}
    example = next(iter(ok["examples"].values()))["value"]
    assert {"students", "overall", "by_cohort", "by_degree", "by_campus", "by_arrival_decile", "basis"} <= set(example)
    assert {"401", "403", "404"} <= set(operation["responses"])


@pytest.mark.usefixtures("fcfs_round")
async def test_one_process_copies_a_round_at_a_time(
    db: asyncpg.Connection, redis: Redis, settings: Settings, database_url: str
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        gate = SeatGate(redis, settings.redis_namespace)
        log = AttemptLog(pool, gate, interval_seconds=60)
        noted = gate.keys(R).attempts
        # The app's own workers copy too, every second: some notes may be copied already.
        async with db.transaction():
            # Another process copying the round right now holds this lock.
            await db.execute("SELECT pg_advisory_xact_lock('select_attempts'::regclass::oid::integer, hashtext($1))", R)
            waiting = await redis.hlen(noted)
            assert await log.copy(R) == 0
            assert await redis.hlen(noted) == waiting  # nothing forgotten that was not copied
        await log.copy(R)
        assert await redis.hlen(noted) == 0
        assert await log.copy(R) == 0
        assert await db.fetchval("SELECT count(*) FROM select_attempts") == 5
    finally:
        await pool.close()
