"""Students and offerings: JSON upserts, an offering's PATCH, and the rules that keep the gate true."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.builders import add_round, add_students, announce
from tests.catalog_data import (
    ADMIN,
    Client,
    assert_problem,
    create_round,
    offering,
    put_offerings,
    student,
)

STUDENTS = f"{ADMIN}/students"
OFFERINGS = f"{ADMIN}/offerings"


def full(entry: dict[str, str]) -> dict[str, str | None]:
    """A schedule entry as the service answers it: both ``day`` and ``date``, one of them null."""
    return {"start": entry["start"], "end": entry["end"], "day": entry.get("day"), "date": entry.get("date")}


async def student_rows(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT id, name, cohort, degree, campus, college FROM students ORDER BY id")
    return [dict(r) for r in rows]


async def current(client: Client, admin: dict[str, str], offering_id: str) -> dict[str, Any]:
    """The stored offering, read back through an empty PATCH."""
    response = await client.patch(f"{OFFERINGS}/{offering_id}", json={}, headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_students_upsert_round_trips_and_is_idempotent(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    students = [
        student("s1"),
        student("s2", name="Zoë O'Brien, Jr.", cohort=2022, degree="phd", campus="south", college="arts"),
    ]
    response = await client.put(STUDENTS, json=students, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"upserted": 2}
    assert await student_rows(db) == students
    stamps = await db.fetch("SELECT id, updated_at FROM students ORDER BY id")

    again = await client.put(STUDENTS, json=students, headers=admin)
    assert again.json() == {"upserted": 2}
    assert await student_rows(db) == students
    assert await db.fetch("SELECT id, updated_at FROM students ORDER BY id") == stamps

    changed = [student("s1", name="Renamed", cohort=2025), student("s3")]
    assert (await client.put(STUDENTS, json=changed, headers=admin)).json() == {"upserted": 2}
    assert await student_rows(db) == [changed[0], students[1], changed[1]]

    events = await db.fetch("SELECT actor, role, action, outcome, detail FROM audit_events ORDER BY id")
    assert [(e["actor"], e["role"], e["action"], e["outcome"]) for e in events] == [
        ("admin-1", "admin", "students.upsert", "ok")
    ] * 3
    assert "2" in events[0]["detail"]


async def test_students_upsert_refreshes_cached_profile(
    client: Client, admin: dict[str, str], as_student: Any, db: asyncpg.Connection
) -> None:
    await add_students(db, "s1", degree="master")
    await put_offerings(client, admin, offering("o1"))
    await add_round(db, "phd-only", ["o1"], eligibility={"degrees": ["phd"]})
    # The student's own request caches the profile; the upsert must make the service forget it.
    assert (await client.get("/api/v1/rounds", headers=as_student("s1"))).json() == []
    assert (await client.put(STUDENTS, json=[student("s1", degree="phd")], headers=admin)).status_code == 200
    rounds = (await client.get("/api/v1/rounds", headers=as_student("s1"))).json()
    assert [r["id"] for r in rounds] == ["phd-only"]


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "bad id"},
        {"id": "x" * 65},
        {"name": ""},
        {"cohort": "twenty"},
        {"cohort": "2024"},
        {"degree": "bachelor"},
        {"colour": "red"},
        {"campus": None},
    ],
    ids=["id", "long id", "empty name", "cohort", "cohort as text", "degree", "unknown field", "null campus"],
)
async def test_bad_student_writes_nothing(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, bad: dict[str, Any]
) -> None:
    body = [student("s1"), student("s2") | bad, student("s3")]
    problem = assert_problem(await client.put(STUDENTS, json=body, headers=admin), 400, "validation_error")
    assert problem["index"] == 1
    assert problem["field"] == next(iter(bad))
    assert await db.fetchval("SELECT count(*) FROM students") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_missing_student_field_and_bad_shapes(client: Client, admin: dict[str, str]) -> None:
    no_college = {k: v for k, v in student("s1").items() if k != "college"}
    for body in ([no_college], student("s1"), [student("s1"), student("s1")], "students"):
        assert_problem(await client.put(STUDENTS, json=body, headers=admin), 400, "validation_error")
    headers = {**admin, "content-type": "application/json"}
    assert_problem(await client.put(STUDENTS, content=b"[{", headers=headers), 400, "validation_error")


async def test_student_list_limit(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    many = [student(f"s{i}") for i in range(20_001)]
    assert_problem(await client.put(STUDENTS, json=many, headers=admin), 400, "validation_error")
    assert await db.fetchval("SELECT count(*) FROM students") == 0
    response = await client.put(STUDENTS, json=many[:20_000], headers=admin)
    assert response.json() == {"upserted": 20_000}
    assert await db.fetchval("SELECT count(*) FROM students") == 20_000


async def test_offerings_upsert_round_trips_every_field(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    weekly = {"day": "mon", "start": "14:00", "end": "15:40"}
    once = {"date": "2026-12-05", "start": "09:00", "end": "11:00"}
    sent = offering(
        "swim-1",
        title="Swimming, beginners",
        category="pe",
        kind="activity",
        capacity=40,
        teacher="Li Wei",
        campus="north",
        schedule=[weekly, once],
        eligibility={"cohorts": [2022, 2023], "degrees": ["master"], "campuses": ["north", "south"]},
        description="Bring a cap.",
    )
    bare = {k: v for k, v in offering("clay").items() if k in ("id", "title", "category", "kind", "capacity")}
    response = await client.put(OFFERINGS, json=[sent, bare], headers=admin)
    assert response.json() == {"upserted": 2}
    assert await current(client, admin, "swim-1") == sent | {"schedule": [full(weekly), full(once)]}
    assert await current(client, admin, "clay") == offering("clay")

    stamp = await db.fetchval("SELECT updated_at FROM offerings WHERE id = 'swim-1'")
    assert (await client.put(OFFERINGS, json=[sent, bare], headers=admin)).json() == {"upserted": 2}
    assert await db.fetchval("SELECT updated_at FROM offerings WHERE id = 'swim-1'") == stamp
    assert await db.fetchval("SELECT count(*) FROM offerings") == 2
    actions = await db.fetch("SELECT action FROM audit_events ORDER BY id")
    assert [a["action"] for a in actions] == ["offerings.upsert", "offerings.upsert"]


@pytest.mark.parametrize(
    "bad",
    [
        {"category": "music"},
        {"kind": "lecture"},
        {"capacity": -1},
        {"title": ""},
        {"schedule": [{"day": "mon", "start": "15:00", "end": "14:00"}]},
        {"schedule": [{"day": "mon", "date": "2026-12-05", "start": "09:00", "end": "10:00"}]},
        {"schedule": [{"start": "09:00", "end": "10:00"}]},
        {"schedule": [{"day": "monday", "start": "09:00", "end": "10:00"}]},
        {"schedule": [{"day": "mon", "start": "9:00", "end": "10:00"}]},
        {"eligibility": {"degrees": ["bachelor"]}},
        {"eligibility": {"cohort": [2022]}},
    ],
)
async def test_bad_offering_writes_nothing(
    client: Client, admin: dict[str, str], db: asyncpg.Connection, bad: dict[str, Any]
) -> None:
    body = [offering("a"), offering("b") | bad]
    assert_problem(await client.put(OFFERINGS, json=body, headers=admin), 400, "validation_error")
    assert await db.fetchval("SELECT count(*) FROM offerings") == 0


async def test_patch_each_field(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    await put_offerings(client, admin, offering("o1"))
    changes: list[dict[str, Any]] = [
        {"title": "New title"},
        {"teacher": "Ma Lin"},
        {"campus": "south"},
        {"description": "Changed"},
        {"schedule": [{"day": "fri", "start": "08:00", "end": "09:30"}]},
        {"category": "labor"},
        {"eligibility": {"cohorts": [2024], "degrees": [], "campuses": []}},
        {"capacity": 12},
        {"teacher": None, "description": None},
    ]
    expected = offering("o1")
    for change in changes:
        response = await client.patch(f"{OFFERINGS}/o1", json=change, headers=admin)
        assert response.status_code == 200, response.text
        expected |= change
        if "schedule" in change:
            expected["schedule"] = [full(e) for e in change["schedule"]]
        assert response.json() == expected
    assert await current(client, admin, "o1") == expected
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["offerings.upsert", *["offering.patch"] * 7, "capacity.change", "offering.patch"]


async def test_patch_refusals(client: Client, admin: dict[str, str]) -> None:
    assert_problem(await client.patch(f"{OFFERINGS}/nope", json={"title": "x"}, headers=admin), 404, "not_found")
    assert_problem(
        await client.patch(f"{OFFERINGS}/bad%20id", json={"title": "x"}, headers=admin), 400, "validation_error"
    )
    await put_offerings(client, admin, offering("o1"))
    bodies: list[Any] = [{"kind": "activity"}, {"id": "o2"}, {"capacity": None}, {"title": None}, {"capacity": -3}, []]
    for body in bodies:
        assert_problem(await client.patch(f"{OFFERINGS}/o1", json=body, headers=admin), 400, "validation_error")
    # Request shape before existence: a bad body for an unknown offering is a 400.
    assert_problem(await client.patch(f"{OFFERINGS}/nope", json={"kind": "x"}, headers=admin), 400, "validation_error")


@pytest.mark.parametrize("state", ["open", "paused"])
async def test_offering_in_use(client: Client, admin: dict[str, str], db: asyncpg.Connection, state: str) -> None:
    schedule = [{"day": "mon", "start": "14:00", "end": "15:40"}]
    await put_offerings(client, admin, offering("o1", schedule=schedule), offering("o2"))
    await create_round(client, admin, "r1", ["o1"])
    for action in ("open", "pause")[: 1 if state == "open" else 2]:
        assert (await client.post(f"{ADMIN}/rounds/r1/{action}", headers=admin)).status_code == 200
    before = await current(client, admin, "o1")
    guarded: list[dict[str, Any]] = [
        {"schedule": []},
        {"category": "arts"},
        {"eligibility": {"degrees": ["phd"]}},
        {"title": "fine", "category": "arts"},
    ]
    for change in guarded:
        problem = assert_problem(
            await client.patch(f"{OFFERINGS}/o1", json=change, headers=admin), 409, "offering_in_use"
        )
        assert "r1" in problem["detail"]
    assert await current(client, admin, "o1") == before
    upsert = await client.put(
        OFFERINGS, json=[offering("o2", title="x"), offering("o1", category="labor")], headers=admin
    )
    assert_problem(upsert, 409, "offering_in_use")
    assert (await current(client, admin, "o2"))["title"] == "Title o2"

    # The same values again are no change; other fields change freely.
    same = {"schedule": schedule, "category": "pe", "title": "Renamed"}
    assert (await client.patch(f"{OFFERINGS}/o1", json=same, headers=admin)).json()["title"] == "Renamed"
    assert (await client.put(OFFERINGS, json=[offering("o1", schedule=schedule)], headers=admin)).status_code == 200

    # Once the round is closed, they change.
    assert (await client.post(f"{ADMIN}/rounds/r1/close", headers=admin)).status_code == 200
    assert (await client.patch(f"{OFFERINGS}/o1", json={"category": "arts"}, headers=admin)).json()[
        "category"
    ] == "arts"


async def test_draft_round_does_not_hold_an_offering(client: Client, admin: dict[str, str]) -> None:
    await put_offerings(client, admin, offering("o1"))
    await create_round(client, admin, "r1", ["o1"])
    response = await client.patch(
        f"{OFFERINGS}/o1", json={"schedule": [{"day": "tue", "start": "10:00", "end": "11:00"}]}, headers=admin
    )
    assert response.status_code == 200, response.text


async def _enrolled(db: asyncpg.Connection, round_id: str, offering_id: str, n: int) -> None:
    """``n`` students enrolled in the offering, written straight to PostgreSQL."""
    ids = [f"e{i}" for i in range(n)]
    await add_students(db, *ids)
    await db.executemany(
        """INSERT INTO selections (round_id, offering_id, student_id, status, seq, created_at, updated_at)
           VALUES ($1, $2, $3, 'enrolled', $4, now(), now())""",
        [(round_id, offering_id, sid, i + 1) for i, sid in enumerate(ids)],
    )


async def test_capacity_below_enrolled(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    await put_offerings(client, admin, offering("o1", capacity=5), offering("o2", capacity=5))
    await add_round(db, "r1", ["o1", "o2"])
    await _enrolled(db, "r1", "o1", 3)
    await announce(client, "r1")

    problem = assert_problem(
        await client.patch(f"{OFFERINGS}/o1", json={"capacity": 2}, headers=admin), 409, "capacity_below_enrolled"
    )
    assert "3" in problem["detail"]
    assert (await current(client, admin, "o1"))["capacity"] == 5
    upsert = await client.put(OFFERINGS, json=[offering("o2", capacity=9), offering("o1", capacity=1)], headers=admin)
    assert_problem(upsert, 409, "capacity_below_enrolled")
    assert (await current(client, admin, "o2"))["capacity"] == 5

    response = await client.patch(f"{OFFERINGS}/o1", json={"capacity": 3}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["capacity"] == 3
    response = await client.put(OFFERINGS, json=[offering("o1", capacity=8), offering("o2", capacity=1)], headers=admin)
    assert response.status_code == 200, response.text
    capacities = await db.fetch("SELECT id, capacity FROM offerings ORDER BY id")
    assert [tuple(r) for r in capacities] == [("o1", 8), ("o2", 1)]
    changes = await db.fetch("SELECT offering_id FROM audit_events WHERE action = 'capacity.change' ORDER BY id")
    assert [r["offering_id"] for r in changes] == ["o1", "o1", "o2"]
