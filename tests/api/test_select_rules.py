"""Each rule of a select and a drop, one test each, through the students' routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.builders import Client, add_offering, add_round, add_students, announce, once, weekly

Headers = Callable[[str], dict[str, str]]
R = "r1"


def path(round_id: str = R) -> str:
    return f"/api/v1/rounds/{round_id}/selections"


async def select(
    client: Client, headers: dict[str, str], offering: str, *, waitlist: bool = False
) -> tuple[int, dict[str, Any]]:
    response = await client.post(path(), json={"offering_id": offering, "waitlist": waitlist}, headers=headers)
    return response.status_code, (response.json() if response.content else {})


@pytest.fixture
async def simple(db: asyncpg.Connection, client: Client) -> None:
    await add_students(db, "s1", "s2", "s3")
    await add_offering(db, "swim", capacity=1, schedule=[weekly("mon", "14:00", "15:40")])
    await add_offering(db, "yoga", capacity=5, schedule=[weekly("mon", "15:00", "16:00")])
    await add_offering(db, "clay", capacity=5, category="arts", schedule=[weekly("tue", "09:00", "10:00")])
    await add_offering(db, "elsewhere", capacity=5)
    await add_round(db, R, ["swim", "yoga", "clay"], waitlist=True)
    await announce(client, R)


@pytest.mark.usefixtures("simple")
async def test_select_enrolls_and_is_durable(client: Client, as_student: Headers, db: asyncpg.Connection) -> None:
    status, body = await select(client, as_student("s1"), "swim")
    assert status == 201, body
    assert body["status"] == "enrolled"
    assert body["position"] is None
    assert set(body) == {"round_id", "offering_id", "student_id", "status", "position", "created_at"}
    row = await db.fetchrow("SELECT status FROM selections WHERE round_id = $1 AND student_id = 's1'", R)
    assert row is not None
    assert row["status"] == "enrolled"
    mine = await client.get(path(), headers=as_student("s1"))
    assert [s["offering_id"] for s in mine.json()] == ["swim"]


@pytest.mark.usefixtures("simple")
async def test_course_full_then_waitlist_with_position(client: Client, as_student: Headers) -> None:
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    status, body = await select(client, as_student("s2"), "swim")
    assert (status, body["code"]) == (409, "course_full")
    status, body = await select(client, as_student("s2"), "swim", waitlist=True)
    assert status == 202
    assert (body["status"], body["position"]) == ("waitlisted", 1)
    status, body = await select(client, as_student("s3"), "swim", waitlist=True)
    assert (status, body["position"]) == (202, 2)


@pytest.mark.usefixtures("simple")
async def test_already_selected(client: Client, as_student: Headers) -> None:
    assert (await select(client, as_student("s1"), "clay"))[0] == 201
    status, body = await select(client, as_student("s1"), "clay")
    assert (status, body["code"]) == (409, "already_selected")


@pytest.mark.usefixtures("simple")
async def test_time_conflict_names_the_held_offering(client: Client, as_student: Headers) -> None:
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    status, body = await select(client, as_student("s1"), "yoga")
    assert (status, body["code"]) == (409, "time_conflict")
    assert "swim" in body["detail"]


@pytest.mark.usefixtures("simple")
async def test_offering_not_in_round_and_unknown_offering(client: Client, as_student: Headers) -> None:
    status, body = await select(client, as_student("s1"), "elsewhere")
    assert (status, body["code"]) == (409, "offering_not_in_round")
    status, body = await select(client, as_student("s1"), "nope")
    assert (status, body["code"]) == (404, "not_found")


@pytest.mark.usefixtures("simple")
async def test_unknown_round_is_404_and_bad_id_is_400(client: Client, as_student: Headers) -> None:
    response = await client.post(path("nope"), json={"offering_id": "swim"}, headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = await client.post(path("bad id!"), json={"offering_id": "swim"}, headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


@pytest.mark.usefixtures("simple")
async def test_bad_bodies_are_400(client: Client, as_student: Headers) -> None:
    for body in ({"offering_id": "swim", "extra": 1}, {"offering_id": 5}, {}):
        response = await client.post(path(), json=body, headers=as_student("s1"))
        assert (response.status_code, response.json()["code"]) == (400, "validation_error"), body
    response = await client.post(
        path(), content=b"{not json", headers={**as_student("s1"), "content-type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


@pytest.mark.usefixtures("simple")
async def test_wrong_content_type_is_415_and_big_body_413(client: Client, as_student: Headers) -> None:
    response = await client.post(path(), content=b"x", headers={**as_student("s1"), "content-type": "text/plain"})
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    big = b'{"offering_id": "swim", "pad": "' + b"x" * 70_000 + b'"}'
    response = await client.post(path(), content=big, headers={**as_student("s1"), "content-type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


async def test_category_and_total_limits(db: asyncpg.Connection, client: Client, as_student: Headers) -> None:
    await add_students(db, "s1")
    for name, category, day in [("p1", "pe", "mon"), ("p2", "pe", "tue"), ("a1", "arts", "wed"), ("a2", "arts", "thu")]:
        await add_offering(db, name, capacity=5, category=category, schedule=[weekly(day, "10:00", "11:00")])
    await add_round(db, R, ["p1", "p2", "a1", "a2"], limits={"pe": 1, "total": 2})
    await announce(client, R)
    assert (await select(client, as_student("s1"), "p1"))[0] == 201
    status, body = await select(client, as_student("s1"), "p2")
    assert (status, body["code"]) == (409, "category_limit")
    assert body["limit"] == 1
    assert (await select(client, as_student("s1"), "a1"))[0] == 201
    status, body = await select(client, as_student("s1"), "a2")
    assert (status, body["code"]) == (409, "total_limit")


async def test_not_eligible_for_round_or_offering(db: asyncpg.Connection, client: Client, as_student: Headers) -> None:
    await add_students(db, "phd1", degree="phd")
    await add_students(db, "m1")
    await add_offering(db, "masters-only", capacity=5, eligibility={"degrees": ["master"]})
    await add_round(db, R, ["masters-only"])
    await add_round(db, "south-only", ["masters-only"], eligibility={"campuses": ["south"]})
    await announce(client, R)
    await announce(client, "south-only")
    status, body = await select(client, as_student("phd1"), "masters-only")
    assert (status, body["code"]) == (409, "not_eligible")
    response = await client.post(path("south-only"), json={"offering_id": "masters-only"}, headers=as_student("m1"))
    assert (response.status_code, response.json()["code"]) == (409, "not_eligible")
    assert (await select(client, as_student("m1"), "masters-only"))[0] == 201


async def test_round_not_open_and_wrong_mode(db: asyncpg.Connection, client: Client, as_student: Headers) -> None:
    await add_students(db, "s1")
    await add_offering(db, "o1", capacity=5)
    for round_id, state, mode in [("d", "draft", "fcfs"), ("p", "paused", "fcfs"), ("lot", "open", "lottery")]:
        await add_round(db, round_id, ["o1"], state=state, mode=mode)
        await announce(client, round_id)
    for round_id, code in [("d", "round_not_open"), ("p", "round_not_open"), ("lot", "wrong_mode")]:
        response = await client.post(path(round_id), json={"offering_id": "o1"}, headers=as_student("s1"))
        assert (response.status_code, response.json()["code"]) == (409, code), round_id


async def test_a_drop_on_a_lottery_round_is_wrong_mode(
    db: asyncpg.Connection, client: Client, as_student: Headers, admin: dict[str, str]
) -> None:
    """Even of a seat an administrator gave: the draw's places change in a round that continues it."""
    await add_students(db, "s1")
    await add_offering(db, "o1", capacity=5)
    await add_round(db, "lot", ["o1"], state="open", mode="lottery")
    await announce(client, "lot")
    forced = await client.post(
        "/api/v1/admin/rounds/lot/selections", json={"student_id": "s1", "offering_id": "o1"}, headers=admin
    )
    assert forced.status_code == 201, forced.text
    response = await client.delete(path("lot") + "/o1", headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (409, "wrong_mode")
    mine = await client.get(path("lot"), headers=as_student("s1"))
    assert [s["offering_id"] for s in mine.json()] == ["o1"]


async def test_one_off_date_conflicts_with_weekly_day(
    db: asyncpg.Connection, client: Client, as_student: Headers
) -> None:
    await add_students(db, "s1")
    # 2026-12-07 is a Monday.
    await add_offering(db, "weekly-mon", capacity=5, schedule=[weekly("mon", "14:00", "15:00")])
    await add_offering(db, "trip", capacity=5, category="labor", schedule=[once("2026-12-07", "14:30", "17:00")])
    await add_offering(db, "adjacent", capacity=5, category="arts", schedule=[weekly("mon", "15:00", "16:00")])
    await add_round(db, R, ["weekly-mon", "trip", "adjacent"])
    await announce(client, R)
    assert (await select(client, as_student("s1"), "weekly-mon"))[0] == 201
    assert (await select(client, as_student("s1"), "trip"))[1]["code"] == "time_conflict"
    assert (await select(client, as_student("s1"), "adjacent"))[0] == 201  # [start, end) touch, no overlap


@pytest.mark.usefixtures("simple")
async def test_drop_frees_the_seat_and_promotes_the_first_waiting(
    client: Client, as_student: Headers, db: asyncpg.Connection
) -> None:
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    assert (await select(client, as_student("s2"), "swim", waitlist=True))[0] == 202
    assert (await select(client, as_student("s3"), "swim", waitlist=True))[0] == 202
    response = await client.delete(path() + "/swim", headers=as_student("s1"))
    assert response.status_code == 204
    rows = await db.fetch("SELECT student_id, status FROM selections WHERE round_id = $1 ORDER BY student_id", R)
    assert [(r["student_id"], r["status"]) for r in rows] == [
        ("s1", "dropped"),
        ("s2", "enrolled"),
        ("s3", "waitlisted"),
    ]
    mine = (await client.get(path(), headers=as_student("s3"))).json()
    assert (mine[0]["status"], mine[0]["position"]) == ("waitlisted", 1)
    audit = await db.fetch("SELECT action, student_id, seq FROM audit_events WHERE round_id = $1 ORDER BY seq", R)
    assert [(a["action"], a["student_id"]) for a in audit] == [
        ("select", "s1"),
        ("select", "s2"),
        ("select", "s3"),
        ("drop", "s1"),
        ("promote", "s2"),
    ]


@pytest.mark.usefixtures("simple")
async def test_promotion_skips_a_waiting_student_with_a_conflict(
    client: Client, as_student: Headers, db: asyncpg.Connection
) -> None:
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    assert (await select(client, as_student("s2"), "swim", waitlist=True))[0] == 202
    assert (await select(client, as_student("s3"), "swim", waitlist=True))[0] == 202
    assert (await select(client, as_student("s2"), "yoga"))[0] == 201  # now clashes with swim
    assert (await client.delete(path() + "/swim", headers=as_student("s1"))).status_code == 204
    rows = await db.fetch(
        "SELECT student_id, status FROM selections WHERE round_id = $1 AND offering_id = 'swim' ORDER BY student_id", R
    )
    assert [(r["student_id"], r["status"]) for r in rows] == [
        ("s1", "dropped"),
        ("s2", "waitlisted"),
        ("s3", "enrolled"),
    ]


@pytest.mark.usefixtures("simple")
async def test_drop_rules(client: Client, as_student: Headers, db: asyncpg.Connection) -> None:
    response = await client.delete(path() + "/swim", headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    await add_offering(db, "o9", capacity=5)
    await add_round(db, "nodrop", ["o9"], allow_drop=False)
    await announce(client, "nodrop")
    assert (await client.post(path("nodrop"), json={"offering_id": "o9"}, headers=as_student("s1"))).status_code == 201
    response = await client.delete(path("nodrop") + "/o9", headers=as_student("s1"))
    assert (response.status_code, response.json()["code"]) == (409, "drop_not_allowed")


@pytest.mark.usefixtures("simple")
async def test_offerings_show_live_seats(client: Client, as_student: Headers) -> None:
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    assert (await select(client, as_student("s2"), "swim", waitlist=True))[0] == 202
    response = await client.get(f"/api/v1/rounds/{R}/offerings", headers=as_student("s3"))
    assert response.status_code == 200
    by_id = {o["id"]: o for o in response.json()}
    assert (by_id["swim"]["remaining"], by_id["swim"]["waitlisted"], by_id["swim"]["eligible"]) == (0, 1, True)
    assert by_id["yoga"]["remaining"] == 5
    available = await client.get(f"/api/v1/rounds/{R}/offerings?available=true", headers=as_student("s3"))
    assert "swim" not in {o["id"] for o in available.json()}
    found = await client.get(f"/api/v1/rounds/{R}/offerings?q=YOG", headers=as_student("s3"))
    assert [o["id"] for o in found.json()] == ["yoga"]
    arts = await client.get(f"/api/v1/rounds/{R}/offerings?category=arts", headers=as_student("s3"))
    assert [o["id"] for o in arts.json()] == ["clay"]


@pytest.mark.usefixtures("simple")
async def test_unregistered_student_and_admin_are_forbidden(
    client: Client, as_student: Headers, admin: dict[str, str]
) -> None:
    response = await client.post(path(), json={"offering_id": "swim"}, headers=as_student("ghost"))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    response = await client.post(path(), json={"offering_id": "swim"}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    response = await client.post(path(), json={"offering_id": "swim"})
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")
    # Every student route, and before the request's shape is looked at.
    routes = [
        ("GET", "/api/v1/rounds", None),
        ("GET", f"/api/v1/rounds/{R}/offerings", None),
        ("GET", path(), None),
        ("POST", path(), b"{not json"),
        ("DELETE", f"{path()}/swim", None),
    ]
    for method, url, body in routes:
        for who in (as_student("ghost"), admin):
            headers = {**who, "content-type": "text/plain"} if body else who
            response = await client.request(method, url, content=body, headers=headers)
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), (method, url)
