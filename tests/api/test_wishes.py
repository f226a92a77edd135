"""Wish lists in lottery rounds, through the students' routes: shape, rules in order, storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings, student

Headers = Callable[[str], dict[str, str]]


def wishes(round_id: str = "lot") -> str:
    return f"/api/v1/rounds/{round_id}/wishes"


@pytest.fixture
async def lottery(client: Client, admin: dict[str, str]) -> None:
    await put_offerings(
        client,
        admin,
        offering("swim"),
        offering("yoga", category="arts"),
        offering("phd-only", eligibility={"cohorts": [], "degrees": ["phd"], "campuses": []}),
        offering("elsewhere"),
    )
    people = [student("s1"), student("s2"), student("old", cohort=2019)]
    assert (await client.put(f"{ADMIN}/students", json=people, headers=admin)).status_code == 200
    await create_round(
        client, admin, "lot", ["swim", "yoga", "phd-only"], mode="lottery", eligibility={"cohorts": [2024]}
    )
    await create_round(client, admin, "fcfs", ["swim", "yoga"])


async def open_(client: Client, admin: dict[str, str], round_id: str) -> None:
    assert (await client.post(f"{ADMIN}/rounds/{round_id}/open", headers=admin)).status_code == 200


@pytest.mark.usefixtures("lottery")
async def test_put_get_replace_and_withdraw(
    client: Client, admin: dict[str, str], as_student: Headers, db: asyncpg.Connection
) -> None:
    await open_(client, admin, "lot")
    before = await client.get(wishes(), headers=as_student("s1"))
    assert before.status_code == 200, before.text
    assert before.json() == {"round_id": "lot", "offering_ids": [], "updated_at": None}
    first = await client.put(wishes(), json={"offering_ids": ["yoga", "swim"]}, headers=as_student("s1"))
    assert first.status_code == 200, first.text
    assert first.json()["offering_ids"] == ["yoga", "swim"]
    assert dt.datetime.fromisoformat(first.json()["updated_at"]).tzinfo is not None
    second = await client.put(wishes(), json={"offering_ids": ["swim"]}, headers=as_student("s1"))
    assert second.json()["offering_ids"] == ["swim"]
    assert (await client.get(wishes(), headers=as_student("s1"))).json() == second.json()
    assert (await client.get(wishes(), headers=as_student("s2"))).json()["offering_ids"] == []
    withdrawn = await client.put(wishes(), json={"offering_ids": []}, headers=as_student("s1"))
    assert withdrawn.status_code == 200
    assert withdrawn.json()["offering_ids"] == []
    assert withdrawn.json()["updated_at"] is not None
    row = await db.fetchrow("SELECT offering_ids, edits FROM wishes WHERE round_id = 'lot' AND student_id = 's1'")
    assert row is not None
    assert (list(row["offering_ids"]), row["edits"]) == ([], 3)
    # Counted, not audited one by one: no event per edit; one summary when the round closes.
    per_edit = await db.fetchval("SELECT count(*) FROM audit_events WHERE round_id = 'lot' AND student_id = 's1'")
    assert per_edit == 0
    assert (await client.post(f"{ADMIN}/rounds/lot/close", headers=admin)).status_code == 200
    summaries = await db.fetch("SELECT detail FROM audit_events WHERE round_id = 'lot' AND action = 'round.wishes'")
    assert [r["detail"] for r in summaries] == ["0 wish list(s) (1 handed in, 3 edit(s))"]
    # Closed: readable, not writable.
    assert (await client.get(wishes(), headers=as_student("s1"))).status_code == 200
    closed = await client.put(wishes(), json={"offering_ids": ["swim"]}, headers=as_student("s1"))
    assert_problem(closed, 409, "round_not_open")


@pytest.mark.usefixtures("lottery")
@pytest.mark.parametrize(
    "body",
    [
        {"offering_ids": ["swim", "swim"]},
        {"offering_ids": [f"o{i}" for i in range(51)]},
        {"offering_ids": ["bad id!"]},
        {"offering_ids": ["swim"], "extra": 1},
        {"offering_ids": "swim"},
        {},
    ],
)
async def test_bad_shapes_are_400_before_anything_else(
    client: Client, as_student: Headers, body: dict[str, object]
) -> None:
    # Even on an unknown round: the shape is checked before existence.
    assert_problem(await client.put(wishes("nowhere"), json=body, headers=as_student("s1")), 400, "validation_error")


@pytest.mark.usefixtures("lottery")
async def test_rules_in_the_contract_order(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    s1 = as_student("s1")
    assert (await client.put(wishes("lot"), json={"offering_ids": []})).status_code == 401
    assert_problem(await client.put(wishes("lot"), json={"offering_ids": []}, headers=admin), 403, "forbidden")
    assert_problem(await client.put(wishes("nowhere"), json={"offering_ids": []}, headers=s1), 404, "not_found")
    assert_problem(await client.get(wishes("nowhere"), headers=s1), 404, "not_found")
    # A draft: not open (before wrong_mode, even on the fcfs round).
    assert_problem(await client.put(wishes("lot"), json={"offering_ids": []}, headers=s1), 409, "round_not_open")
    assert_problem(await client.get(wishes("lot"), headers=s1), 409, "round_not_open")
    assert_problem(await client.put(wishes("fcfs"), json={"offering_ids": []}, headers=s1), 409, "round_not_open")
    await open_(client, admin, "fcfs")
    await open_(client, admin, "lot")
    assert_problem(await client.put(wishes("fcfs"), json={"offering_ids": []}, headers=s1), 409, "wrong_mode")
    assert_problem(await client.get(wishes("fcfs"), headers=s1), 409, "wrong_mode")
    not_in = await client.put(wishes(), json={"offering_ids": ["swim", "elsewhere"]}, headers=s1)
    assert "elsewhere" in assert_problem(not_in, 409, "offering_not_in_round")["detail"]
    unknown = await client.put(wishes(), json={"offering_ids": ["no-such-offering"]}, headers=s1)
    assert_problem(unknown, 409, "offering_not_in_round")
    # The round's eligibility first, then each offering's.
    old = as_student("old")
    assert_problem(await client.put(wishes(), json={"offering_ids": ["phd-only"]}, headers=old), 409, "not_eligible")
    barred = await client.put(wishes(), json={"offering_ids": ["swim", "phd-only"]}, headers=s1)
    assert "phd-only" in assert_problem(barred, 409, "not_eligible")["detail"]
    assert (await client.get(wishes(), headers=s1)).json()["offering_ids"] == []


@pytest.mark.usefixtures("lottery")
async def test_outside_the_window_is_not_open(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    await create_round(client, admin, "later", ["swim"], mode="lottery", opens_at=later)
    await open_(client, admin, "later")
    refused = await client.put(wishes("later"), json={"offering_ids": ["swim"]}, headers=as_student("s1"))
    assert_problem(refused, 409, "round_not_open")


@pytest.mark.usefixtures("lottery")
async def test_select_and_drop_on_a_lottery_round_are_wrong_mode(
    client: Client, admin: dict[str, str], as_student: Headers
) -> None:
    await open_(client, admin, "lot")
    path = "/api/v1/rounds/lot/selections"
    # The gate loads a round after it opens; wait for it to answer as a loaded round does.
    for _ in range(100):
        response = await client.post(path, json={"offering_id": "swim"}, headers=as_student("s1"))
        if response.status_code != 503:
            break
    assert_problem(response, 409, "wrong_mode")
    assert_problem(await client.delete(f"{path}/swim", headers=as_student("s1")), 409, "wrong_mode")


@pytest.mark.usefixtures("lottery")
async def test_the_counter_counts_hand_ins(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    await open_(client, admin, "lot")

    async def counted() -> float:
        text = (await client.get("/metrics")).text
        lines = [line for line in text.splitlines() if line.startswith("selection_wish_lists_total")]
        return float(lines[0].split()[-1]) if lines else 0.0

    before = await counted()
    await client.put(wishes(), json={"offering_ids": ["swim"]}, headers=as_student("s1"))
    await client.put(wishes(), json={"offering_ids": ["swim", "elsewhere"]}, headers=as_student("s1"))
    assert await counted() == before + 1
