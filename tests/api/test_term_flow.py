"""A whole term, as administrators run it: a lottery round for wish lists, its draw, then a
first-come add/drop round with waitlists that continues it; every invariant checked at the end.

The expected draw is recomputed here from the contract's own definition, independently of the
service's code: seeded order by sha256(seed + ":" + student_id), snake passes, one placement
per student per pass, every rule applied."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import asyncpg

from lib.settings import Settings
from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings, student
from tests.invariants import checked

Headers = Callable[[str], dict[str, str]]
SEED = "term-2026-autumn"
STUDENTS = [f"s{i}" for i in range(1, 9)]
#: Ranked wishes; `run` and `swim` clash on Monday afternoon.
WISHES = {
    "s1": ["swim", "yoga", "clay"],
    "s2": ["swim", "clay"],
    "s3": ["yoga", "swim", "run"],
    "s4": ["swim", "yoga"],
    "s5": ["yoga", "clay", "run"],
    "s6": ["run", "swim", "clay"],
    "s7": ["clay"],
}
CAPACITY = {"swim": 2, "yoga": 1, "clay": 2, "run": 3}
CATEGORY = {"swim": "pe", "yoga": "arts", "clay": "arts", "run": "pe"}
LIMITS = {"pe": 1, "arts": 1, "total": 2}
CLASHES = {frozenset(("swim", "run"))}


def expected_draw(seed: str) -> dict[str, list[str]]:
    """The contract's draw, written out plainly for this instance."""
    order = sorted(WISHES, key=lambda sid: hashlib.sha256(f"{seed}:{sid}".encode()).hexdigest())
    seats = dict(CAPACITY)
    got: dict[str, list[str]] = {sid: [] for sid in WISHES}
    forward = True
    while True:
        placed = False
        for sid in order if forward else reversed(order):
            for wish in WISHES[sid]:
                held = got[sid]
                if wish in held or seats[wish] == 0:
                    continue
                if sum(CATEGORY[h] == CATEGORY[wish] for h in held) >= LIMITS[CATEGORY[wish]]:
                    continue
                if len(held) >= LIMITS["total"]:
                    continue
                if any(frozenset((h, wish)) in CLASHES for h in held):
                    continue
                held.append(wish)
                seats[wish] -= 1
                placed = True
                break
        if not placed:
            return got
        forward = not forward


async def test_lottery_draw_then_add_drop_with_waitlists(
    client: Client, admin: dict[str, str], as_student: Headers, db: asyncpg.Connection, settings: Settings
) -> None:
    monday = [{"day": "mon", "start": "14:00", "end": "15:40"}]
    await put_offerings(
        client,
        admin,
        offering("swim", capacity=CAPACITY["swim"], schedule=monday),
        offering("yoga", category="arts", capacity=CAPACITY["yoga"]),
        offering("clay", category="arts", capacity=CAPACITY["clay"]),
        offering("run", capacity=CAPACITY["run"], schedule=[{"day": "mon", "start": "15:00", "end": "16:00"}]),
    )
    response = await client.put(f"{ADMIN}/students", json=[student(s) for s in STUDENTS], headers=admin)
    assert response.status_code == 200, response.text
    commitment = hashlib.sha256(SEED.encode()).hexdigest()
    await create_round(client, admin, "lottery", list(CAPACITY), mode="lottery", limits=LIMITS, seed_sha256=commitment)
    assert (await client.post(f"{ADMIN}/rounds/lottery/open", headers=admin)).status_code == 200

    # Students hand in wish lists; a later list replaces an earlier one; selects are the wrong mode.
    await client.put("/api/v1/rounds/lottery/wishes", json={"offering_ids": ["clay"]}, headers=as_student("s1"))
    for sid, wishes in WISHES.items():
        response = await client.put(
            "/api/v1/rounds/lottery/wishes", json={"offering_ids": wishes}, headers=as_student(sid)
        )
        assert response.status_code == 200, response.text
        assert response.json()["offering_ids"] == wishes
    refused = await client.post(
        "/api/v1/rounds/lottery/selections", json={"offering_id": "swim"}, headers=as_student("s8")
    )
    assert_problem(refused, 409, "wrong_mode")

    # No draw before the round closes; the seed must be the one committed to.
    assert_problem(
        await client.post(f"{ADMIN}/rounds/lottery/draw", json={"seed": SEED}, headers=admin), 409, "invalid_transition"
    )
    assert (await client.post(f"{ADMIN}/rounds/lottery/close", headers=admin)).status_code == 200
    assert_problem(
        await client.post(f"{ADMIN}/rounds/lottery/draw", json={"seed": "not it"}, headers=admin),
        400,
        "validation_error",
    )
    drawn = await client.post(f"{ADMIN}/rounds/lottery/draw", json={"seed": SEED}, headers=admin)
    assert drawn.status_code == 200, drawn.text
    expected = expected_draw(SEED)
    assert drawn.json() == {
        "round_id": "lottery",
        "seed": SEED,
        "seed_sha256": commitment,
        "students": len(WISHES),
        "enrolled": sum(len(v) for v in expected.values()),
        "unplaced": sum(not v for v in expected.values()),
    }
    for sid in STUDENTS:
        mine = (await client.get("/api/v1/rounds/lottery/selections", headers=as_student(sid))).json()
        assert sorted(s["offering_id"] for s in mine) == sorted(expected.get(sid, [])), sid
        assert all(s["status"] == "enrolled" for s in mine)
    # Drawing again with the same seed answers the same and changes nothing; another seed is refused.
    again = await client.post(f"{ADMIN}/rounds/lottery/draw", json={"seed": SEED}, headers=admin)
    assert again.json() == drawn.json()
    # Another seed is refused: here it is not the committed one (400, checked before the rules);
    # in a round without a commitment it would be 409 invalid_transition (tests/api/test_draw.py).
    assert_problem(
        await client.post(f"{ADMIN}/rounds/lottery/draw", json={"seed": SEED + "x"}, headers=admin),
        400,
        "validation_error",
    )
    draw_input = (await client.get(f"{ADMIN}/rounds/lottery/draw-input", headers=admin)).json()
    assert draw_input["seed"] == SEED

    # Add/drop: a first-come round with waitlists continues the lottery's outcome.
    await create_round(client, admin, "adddrop", list(CAPACITY), continues="lottery", limits=LIMITS, waitlist=True)
    assert (await client.post(f"{ADMIN}/rounds/adddrop/open", headers=admin)).status_code == 200
    stats = (await client.get(f"{ADMIN}/rounds/adddrop/stats", headers=admin)).json()
    enrolled_now = {o["offering_id"]: o["enrolled"] for o in stats["offerings"]}
    assert enrolled_now == {o: sum(o in v for v in expected.values()) for o in CAPACITY}

    # s8 handed in no list: joins the waitlist of a full offering, and is promoted on a drop.
    full = next(o for o in CAPACITY if enrolled_now[o] == CAPACITY[o] and CATEGORY[o] == "arts")
    holder = next(sid for sid, got in expected.items() if full in got)
    refused = await client.post(
        "/api/v1/rounds/adddrop/selections", json={"offering_id": full}, headers=as_student("s8")
    )
    assert_problem(refused, 409, "course_full")
    waiting = await client.post(
        "/api/v1/rounds/adddrop/selections", json={"offering_id": full, "waitlist": True}, headers=as_student("s8")
    )
    assert waiting.status_code == 202, waiting.text
    assert waiting.json()["position"] == 1
    dropped = await client.delete(f"/api/v1/rounds/adddrop/selections/{full}", headers=as_student(holder))
    assert dropped.status_code == 204
    promoted: list[dict[str, Any]] = (
        await client.get("/api/v1/rounds/adddrop/selections", headers=as_student("s8"))
    ).json()
    assert [(s["offering_id"], s["status"]) for s in promoted] == [(full, "enrolled")]

    # Every carried seat was audited, and every invariant holds in both rounds.
    carried = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE round_id = 'adddrop' AND action = 'carry_over'"
    )
    assert carried == sum(len(v) for v in expected.values())
    report = await checked(settings)
    assert report.clean, report.text()
