"""What a refusal tells the student besides its code: course_full's alternatives, the held
offering a time conflict is with, the limit and the held offerings a limit counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from lib.settings import Settings
from tests.builders import Client, add_offering, add_round, add_students, announce, once, weekly

Headers = Callable[[str], dict[str, str]]
R = "r1"
PATH = f"/api/v1/rounds/{R}/selections"
ADMIN_PATH = f"/api/v1/admin/rounds/{R}/selections"


async def select(client: Client, headers: dict[str, str], offering: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(PATH, json={"offering_id": offering, **extra}, headers=headers)
    return response.status_code, (response.json() if response.content else {})


@pytest.fixture
async def pe_round(db: asyncpg.Connection, client: Client) -> None:
    """A full `full`, and around it pe offerings that differ in one way each from a good
    alternative for s1 (who will hold `held-mon`)."""
    await add_students(db, "s1", "s2", "s3")
    await add_students(db, "south1", campus="south")
    mon = [weekly("mon", "08:00", "09:00")]
    await add_offering(db, "full", capacity=1, schedule=[weekly("fri", "08:00", "09:00")])
    await add_offering(db, "held-mon", capacity=5, schedule=mon, category="arts")
    await add_offering(db, "roomy", capacity=9, schedule=[weekly("tue", "08:00", "09:00")])
    await add_offering(db, "small", capacity=2, schedule=[weekly("wed", "08:00", "09:00")])
    await add_offering(db, "small-too", capacity=2, schedule=[weekly("thu", "08:00", "09:00")])
    await add_offering(db, "tied-later", capacity=2, schedule=[weekly("sat", "08:00", "09:00")])
    # Each of these is not an alternative for s1, for one reason each.
    await add_offering(db, "clashes", capacity=9, schedule=[once("2026-12-07", "08:30", "09:30")])  # a Monday
    await add_offering(db, "south-only", capacity=9, eligibility={"campuses": ["south"]})
    await add_offering(db, "gone", capacity=1)
    await add_offering(db, "arts-one", capacity=9, category="arts", schedule=[weekly("sun", "08:00", "09:00")])
    await add_round(
        db,
        R,
        # The round's order: `small` before `small-too` before `tied-later` (same seats left).
        [
            "full",
            "held-mon",
            "clashes",
            "small",
            "south-only",
            "gone",
            "small-too",
            "roomy",
            "arts-one",
            "tied-later",
        ],
        waitlist=True,
    )
    await announce(client, R)


async def _fill(client: Client, as_student: Headers) -> None:
    assert (await select(client, as_student("s2"), "full"))[0] == 201
    assert (await select(client, as_student("s3"), "gone"))[0] == 201
    assert (await select(client, as_student("s1"), "held-mon"))[0] == 201


@pytest.mark.usefixtures("pe_round")
async def test_course_full_names_alternatives_in_order(client: Client, as_student: Headers) -> None:
    await _fill(client, as_student)
    status, body = await select(client, as_student("s1"), "full")
    assert (status, body["code"]) == (409, "course_full")
    # Most seats left first (roomy 9); then the round's order among equals (small, small-too,
    # tied-later: 2 each); at most 3. Not: clashes (time conflict with held-mon), south-only (not
    # eligible), gone (no seat), arts-one (another category), full itself.
    assert body["alternatives"] == ["roomy", "small", "small-too"]
    assert "roomy" in body["detail"]
    # Taking seats reorders them: small-too has 1 left now, tied-later still 2.
    assert (await select(client, as_student("s3"), "small-too"))[0] == 201
    status, body = await select(client, as_student("s1"), "full")
    assert body["alternatives"] == ["roomy", "small", "tied-later"]


@pytest.mark.usefixtures("pe_round")
async def test_alternatives_leave_out_what_the_student_holds(client: Client, as_student: Headers) -> None:
    await _fill(client, as_student)
    assert (await select(client, as_student("s1"), "roomy"))[0] == 201
    assert (await select(client, as_student("s3"), "tied-later"))[0] == 201
    assert (await select(client, as_student("s1"), "gone", waitlist=True))[0] == 202
    status, body = await select(client, as_student("s1"), "full")
    assert (status, body["code"]) == (409, "course_full")
    assert body["alternatives"] == ["small", "small-too", "tied-later"]
    # Another student's view differs: eligible for south-only, holding nothing that clashes.
    status, body = await select(client, as_student("south1"), "full")
    assert body["alternatives"] == ["clashes", "south-only", "roomy"]


async def test_alternatives_are_an_empty_list_when_none(
    db: asyncpg.Connection, client: Client, as_student: Headers
) -> None:
    await add_students(db, "s1", "s2")
    await add_offering(db, "full", capacity=1)
    await add_offering(db, "paint", capacity=5, category="arts")
    await add_round(db, R, ["full", "paint"])
    await announce(client, R)
    assert (await select(client, as_student("s2"), "full"))[0] == 201
    status, body = await select(client, as_student("s1"), "full")
    assert (status, body["code"], body["alternatives"]) == (409, "course_full", [])
    assert body["detail"] == "No seat left in full"


async def test_alternatives_respect_the_category_limit_of_the_requested_offering(
    db: asyncpg.Connection, client: Client, as_student: Headers
) -> None:
    # A full offering is refused course_full only once the limits passed; an alternative of its
    # category counts the same against them, so it never lands on a limit.
    await add_students(db, "s1", "s2")
    await add_offering(db, "p-full", capacity=1, schedule=[weekly("mon", "08:00", "09:00")])
    await add_offering(db, "p-held", capacity=5, schedule=[weekly("tue", "08:00", "09:00")])
    await add_offering(db, "p-open", capacity=5, schedule=[weekly("wed", "08:00", "09:00")])
    await add_round(db, R, ["p-full", "p-held", "p-open"], limits={"pe": 2, "total": 2})
    await announce(client, R)
    assert (await select(client, as_student("s2"), "p-full"))[0] == 201
    assert (await select(client, as_student("s1"), "p-held"))[0] == 201
    status, body = await select(client, as_student("s1"), "p-full")
    assert (status, body["alternatives"]) == (409, ["p-open"])
    assert (await select(client, as_student("s1"), "p-open"))[0] == 201
    # Now at the limit: the limit answers, before any seat is looked at.
    status, body = await select(client, as_student("s1"), "p-full")
    assert (status, body["code"]) == (409, "category_limit")


@pytest.mark.usefixtures("pe_round")
async def test_admin_enrolment_and_replays_carry_the_alternatives(
    client: Client, as_student: Headers, admin: dict[str, str]
) -> None:
    await _fill(client, as_student)
    response = await client.post(ADMIN_PATH, json={"student_id": "s1", "offering_id": "full"}, headers=admin)
    assert (response.status_code, response.json()["code"]) == (409, "course_full")
    assert response.json()["alternatives"] == ["roomy", "small", "small-too"]
    keyed = {**as_student("s1"), "Idempotency-Key": "alt-1"}
    first = await client.post(PATH, json={"offering_id": "full"}, headers=keyed)
    assert first.json()["alternatives"] == ["roomy", "small", "small-too"]
    # The seats move; the key's answer does not.
    assert (await select(client, as_student("s3"), "roomy"))[0] == 201
    assert (await select(client, as_student("s2"), "small"))[0] == 201
    again = await client.post(PATH, json={"offering_id": "full"}, headers=keyed)
    assert (again.status_code, again.json()) == (409, first.json())
    assert again.headers.get("idempotent-replayed") == "true"


@pytest.mark.usefixtures("pe_round")
async def test_replayed_alternatives_survive_the_loss_of_redis(
    client: Client, as_student: Headers, redis: Redis, settings: Settings
) -> None:
    await _fill(client, as_student)
    keyed = {**as_student("s1"), "Idempotency-Key": "alt-2"}
    first = await client.post(PATH, json={"offering_id": "full"}, headers=keyed)
    assert first.json()["alternatives"] == ["roomy", "small", "small-too"]
    async for key in redis.scan_iter(match=settings.redis_namespace + "*"):
        await redis.delete(key)
    await announce(client, R)
    again = await client.post(PATH, json={"offering_id": "full"}, headers=keyed)
    assert (again.status_code, again.json()) == (409, first.json())


async def test_time_conflict_names_the_held_offering(
    db: asyncpg.Connection, client: Client, as_student: Headers
) -> None:
    await add_students(db, "s1")
    await add_offering(db, "swim", capacity=5, schedule=[weekly("mon", "14:00", "15:40")])
    await add_offering(db, "paint", capacity=5, category="arts", schedule=[weekly("tue", "14:00", "15:00")])
    await add_offering(db, "trip", capacity=5, category="labor", schedule=[once("2026-12-08", "14:30", "15:00")])
    await add_round(db, R, ["swim", "paint", "trip"])
    await announce(client, R)
    assert (await select(client, as_student("s1"), "swim"))[0] == 201
    assert (await select(client, as_student("s1"), "paint"))[0] == 201
    status, body = await select(client, as_student("s1"), "trip")  # 2026-12-08 is a Tuesday
    assert (status, body["code"], body["with"]) == (409, "time_conflict", "paint")
    assert (
        body["detail"] == "trip overlaps paint, which you hold; drop paint first, or choose an offering at another time"
    )


async def test_limits_name_the_limit_and_what_is_held(
    db: asyncpg.Connection, client: Client, as_student: Headers
) -> None:
    await add_students(db, "s1")
    offerings = [("p1", "pe", "mon"), ("p2", "pe", "tue"), ("p3", "pe", "wed"), ("a1", "arts", "thu")]
    offerings += [("a2", "arts", "fri"), ("l1", "labor", "sat")]
    for name, category, day in offerings:
        await add_offering(db, name, capacity=5, category=category, schedule=[weekly(day, "10:00", "11:00")])
    await add_round(db, R, [o for o, _, _ in offerings], limits={"pe": 2, "labor": 0, "total": 3})
    await announce(client, R)
    for offering in ("p2", "p1"):
        assert (await select(client, as_student("s1"), offering))[0] == 201
    status, body = await select(client, as_student("s1"), "p3")
    assert (status, body["code"]) == (409, "category_limit")
    assert (body["category"], body["limit"], body["held"]) == ("pe", 2, ["p1", "p2"])
    assert (
        body["detail"] == "The round's limit for pe offerings is 2, and you hold 2: p1, p2; drop one of them to take p3"
    )
    status, body = await select(client, as_student("s1"), "l1")
    assert (status, body["code"], body["limit"], body["held"]) == (409, "category_limit", 0, [])
    assert "allows no labor" in body["detail"]
    assert (await select(client, as_student("s1"), "a1"))[0] == 201
    status, body = await select(client, as_student("s1"), "a2")
    assert (status, body["code"]) == (409, "total_limit")
    assert (body["limit"], body["held"]) == (3, ["a1", "p1", "p2"])
    assert body["detail"] == (
        "The round's limit on all offerings is 3, and you hold 3: a1, p1, p2; drop one of them to take a2"
    )
    assert "category" not in body


async def test_alternatives_follow_a_category_change(
    db: asyncpg.Connection, client: Client, admin: dict[str, str]
) -> None:
    # A closed round takes administrators' enrolments, and its offerings may change category.
    await add_students(db, "s1", "s2")
    await add_offering(db, "full", capacity=1)
    await add_offering(db, "paint", capacity=5, category="arts")
    await add_round(db, R, ["full", "paint"], state="closed")
    await announce(client, R)
    assert (await client.post(ADMIN_PATH, json={"student_id": "s2", "offering_id": "full"}, headers=admin)).is_success
    response = await client.post(ADMIN_PATH, json={"student_id": "s1", "offering_id": "full"}, headers=admin)
    assert response.json()["alternatives"] == []
    changed = await client.patch("/api/v1/admin/offerings/paint", json={"category": "pe"}, headers=admin)
    assert changed.status_code == 200, changed.text
    response = await client.post(ADMIN_PATH, json={"student_id": "s1", "offering_id": "full"}, headers=admin)
    assert (response.json()["code"], response.json()["alternatives"]) == ("course_full", ["paint"])
