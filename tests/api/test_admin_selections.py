"""Administrators' selection routes: forced changes, stats, the export, the audit log."""

from __future__ import annotations

import csv
import io

import asyncpg
import pytest

from tests.builders import Client, add_offering, add_round, add_students, announce, weekly

R = "r1"
ADMIN = "/api/v1/admin"


@pytest.fixture
async def round_with_seats(db: asyncpg.Connection, client: Client) -> None:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1, schedule=[weekly("mon", "14:00", "15:00")])
    await add_offering(db, "yoga", capacity=2, schedule=[weekly("mon", "14:30", "15:30")])
    await add_round(db, R, ["swim", "yoga"], waitlist=True, state="closed")
    await announce(client, R)


@pytest.mark.usefixtures("round_with_seats")
async def test_force_enroll_applies_rules_but_not_state_and_override_skips_them(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    response = await client.post(
        f"{ADMIN}/rounds/{R}/selections", json={"student_id": "s1", "offering_id": "swim"}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "enrolled"
    response = await client.post(
        f"{ADMIN}/rounds/{R}/selections", json={"student_id": "s2", "offering_id": "swim"}, headers=admin
    )
    assert (response.status_code, response.json()["code"]) == (409, "course_full")
    response = await client.post(
        f"{ADMIN}/rounds/{R}/selections",
        json={"student_id": "s2", "offering_id": "swim", "override": True},
        headers=admin,
    )
    assert response.status_code == 201
    stats = (await client.get(f"{ADMIN}/rounds/{R}/stats", headers=admin)).json()
    assert stats["selections"] == 2
    assert stats["students"] == 2
    assert {o["offering_id"]: o["enrolled"] for o in stats["offerings"]} == {"swim": 2, "yoga": 0}
    actions = await db.fetch("SELECT action, actor, role FROM audit_events WHERE round_id = $1 ORDER BY seq", R)
    assert [(a["action"], a["actor"], a["role"]) for a in actions] == [
        ("force_enroll", "admin-1", "admin"),
        ("force_enroll_override", "admin-1", "admin"),
    ]


@pytest.mark.usefixtures("round_with_seats")
async def test_force_drop_promotes_and_unknowns_are_404(client: Client, admin: dict[str, str]) -> None:
    base = f"{ADMIN}/rounds/{R}/selections"
    assert (await client.post(base, json={"student_id": "s1", "offering_id": "swim"}, headers=admin)).status_code == 201
    assert (await client.delete(f"{base}/s1/swim", headers=admin)).status_code == 204
    assert (await client.delete(f"{base}/s1/swim", headers=admin)).json()["code"] == "not_found"
    assert (await client.delete(f"{base}/nobody/swim", headers=admin)).status_code == 404
    assert (await client.delete(f"{ADMIN}/rounds/nope/selections/s1/swim", headers=admin)).status_code == 404
    assert (
        await client.post(base, json={"student_id": "nobody", "offering_id": "swim"}, headers=admin)
    ).status_code == 404


async def test_capacity_raise_promotes_waiting_students(
    db: asyncpg.Connection, client: Client, admin: dict[str, str], as_student: object
) -> None:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_round(db, R, ["swim"], waitlist=True)
    await announce(client, R)
    path = f"/api/v1/rounds/{R}/selections"
    for sid, expected in (("s1", 201), ("s2", 202), ("s3", 202)):
        response = await client.post(path, json={"offering_id": "swim", "waitlist": True}, headers=as_student(sid))  # type: ignore[operator]
        assert response.status_code == expected
    response = await client.patch(f"{ADMIN}/offerings/swim", json={"capacity": 2}, headers=admin)
    assert response.status_code == 200, response.text
    rows = await db.fetch("SELECT student_id, status FROM selections WHERE round_id = $1 ORDER BY student_id", R)
    assert [(r["student_id"], r["status"]) for r in rows] == [
        ("s1", "enrolled"),
        ("s2", "enrolled"),
        ("s3", "waitlisted"),
    ]
    response = await client.patch(f"{ADMIN}/offerings/swim", json={"capacity": 1}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (409, "capacity_below_enrolled")
    assert await db.fetchval("SELECT capacity FROM offerings WHERE id = 'swim'") == 2


async def test_enrollments_export_json_and_csv(
    db: asyncpg.Connection, client: Client, admin: dict[str, str], as_student: object
) -> None:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1)
    await add_round(db, R, ["swim"], waitlist=True)
    await announce(client, R)
    path = f"/api/v1/rounds/{R}/selections"
    for sid in ("s1", "s2", "s3"):
        await client.post(path, json={"offering_id": "swim", "waitlist": True}, headers=as_student(sid))  # type: ignore[operator]
    await client.delete(f"{path}/swim", headers=as_student("s3"))  # type: ignore[operator]
    response = await client.get(f"{ADMIN}/rounds/{R}/enrollments?format=json", headers=admin)
    assert response.status_code == 200
    rows = response.json()
    assert [(r["student_id"], r["status"], r["position"]) for r in rows] == [
        ("s1", "enrolled", None),
        ("s2", "waitlisted", 1),
    ]
    assert set(rows[0]) == {"round_id", "offering_id", "student_id", "status", "position", "created_at"}
    response = await client.get(f"{ADMIN}/rounds/{R}/enrollments?format=csv", headers=admin)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["round_id", "offering_id", "student_id", "status", "position", "created_at"]
    assert [r[2:5] for r in table[1:]] == [["s1", "enrolled", ""], ["s2", "waitlisted", "1"]]
    audit = (await client.get(f"{ADMIN}/audit?round_id={R}&limit=2", headers=admin)).json()
    assert len(audit) == 2
    assert audit[0]["id"] > audit[1]["id"]
    assert (audit[0]["action"], audit[0]["student_id"]) == ("drop", "s3")
    older = (await client.get(f"{ADMIN}/audit?round_id={R}&before={audit[1]['id']}", headers=admin)).json()
    assert all(e["id"] < audit[1]["id"] for e in older)
    assert (await client.get(f"{ADMIN}/audit?limit=1001", headers=admin)).status_code == 400
    mine = (await client.get(f"{ADMIN}/audit?student_id=s2", headers=admin)).json()
    assert {e["student_id"] for e in mine} == {"s2"}
