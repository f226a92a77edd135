"""Editing a round (PATCH /api/v1/admin/rounds/{id}): everything in a draft, only the name and the
closing time once opened, the name alone once closed; and the gate decides with the change."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings, student

SEED_HASH = "a" * 64


@pytest.fixture
async def catalog(client: Client, admin: dict[str, str]) -> list[str]:
    await put_offerings(
        client,
        admin,
        offering("swim", capacity=5),
        offering("run", capacity=5),
        offering("yoga", category="arts", capacity=5),
    )
    response = await client.put(f"{ADMIN}/students", json=[student("s1"), student("s2")], headers=admin)
    assert response.status_code == 200, response.text
    return ["swim", "run", "yoga"]


async def edit(client: Client, admin: dict[str, str], round_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.patch(f"{ADMIN}/rounds/{round_id}", json=fields, headers=admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def move(client: Client, admin: dict[str, str], round_id: str, *actions: str) -> None:
    for action in actions:
        response = await client.post(f"{ADMIN}/rounds/{round_id}/{action}", headers=admin)
        assert response.status_code == 200, response.text


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def test_a_draft_changes_everything(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "r1", ["swim"])
    changes = {
        "name": "Spring PE",
        "offering_ids": ["yoga", "swim", "run"],
        "mode": "lottery",
        "opens_at": "2026-09-01T08:00:00Z",
        "closes_at": "2026-09-03T18:00:00Z",
        "eligibility": {"cohorts": [2024], "degrees": ["master"], "campuses": ["north"]},
        "limits": {"pe": 1, "total": 2},
        "allow_drop": False,
        "waitlist": True,
        "seed_sha256": SEED_HASH.upper(),
    }
    edited = await edit(client, admin, "r1", **changes)
    assert {k: edited[k] for k in changes} == changes | {"seed_sha256": SEED_HASH}
    assert edited["state"] == "draft"
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).json() == edited
    audit = await db.fetchrow("SELECT actor, action, detail FROM audit_events WHERE action = 'round.edit'")
    assert audit is not None
    assert audit["actor"] == "admin-1"
    assert audit["detail"].startswith("changed name, offering_ids, mode")
    # Back to fcfs with a fair start: the seed commitment must go in the same edit.
    assert_problem(
        await client.patch(f"{ADMIN}/rounds/r1", json={"mode": "fcfs"}, headers=admin), 400, "validation_error"
    )
    back = await edit(client, admin, "r1", mode="fcfs", seed_sha256=None, fair_start_seconds=30, continues=None)
    assert (back["mode"], back["seed_sha256"], back["fair_start_seconds"]) == ("fcfs", None, 30)


async def test_sending_the_round_back_is_no_change(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection
) -> None:
    created = await create_round(client, admin, "r1", catalog, closes_at="2030-01-01T00:00:00Z")
    await move(client, admin, "r1", "open")
    whole = {k: v for k, v in created.items() if k not in ("id", "state", "fair_start_seed", "drawn_seed")}
    assert await edit(client, admin, "r1", **whole) == created | {"state": "open", "fair_start_seed": None}
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'round.edit'") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"offering_ids": ["swim", "nope"]}, "offering_ids"),
        ({"offering_ids": ["swim", "swim"]}, "offering_ids"),
        ({"opens_at": "2026-09-02T08:00:00Z", "closes_at": "2026-09-01T08:00:00Z"}, "closes_at"),
        ({"mode": "lottery", "fair_start_seconds": 10}, "fair_start_seconds"),
        ({"seed_sha256": SEED_HASH}, "seed_sha256"),
        ({"continues": "r1"}, "continues"),
        ({"continues": "nope"}, "continues"),
    ],
    ids=["unknown offering", "repeat", "closes before opens", "fair start lottery", "seed on fcfs", "self", "unknown"],
)
async def test_a_draft_edit_passes_a_creates_rules(
    client: Client, admin: dict[str, str], catalog: list[str], body: dict[str, Any], field: str
) -> None:
    before = await create_round(client, admin, "r1", ["swim"])
    problem = assert_problem(
        await client.patch(f"{ADMIN}/rounds/r1", json=body, headers=admin), 400, "validation_error"
    )
    assert problem["field"] == field
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).json() == before


async def test_continues_names_the_missing_offerings_and_no_loop(
    client: Client, admin: dict[str, str], catalog: list[str]
) -> None:
    await create_round(client, admin, "first", ["swim", "yoga"])
    await create_round(client, admin, "second", ["swim"])
    problem = assert_problem(
        await client.patch(f"{ADMIN}/rounds/second", json={"continues": "first"}, headers=admin),
        400,
        "validation_error",
    )
    assert (problem["field"], problem["missing"]) == ("continues", ["yoga"])
    assert (await edit(client, admin, "second", continues="first", offering_ids=catalog))["continues"] == "first"
    # first may not now continue second (a loop), nor gain an offering second lacks.
    loop = await client.patch(f"{ADMIN}/rounds/first", json={"continues": "second"}, headers=admin)
    assert assert_problem(loop, 400, "validation_error")["field"] == "continues"
    await put_offerings(client, admin, offering("clay", category="arts"))
    grows = await client.patch(f"{ADMIN}/rounds/first", json={"offering_ids": ["swim", "clay"]}, headers=admin)
    problem = assert_problem(grows, 400, "validation_error")
    assert (problem["field"], problem["missing"], problem["round_id"]) == ("offering_ids", ["clay"], "second")


async def test_a_draft_keeps_offerings_someone_was_enrolled_in(
    client: Client, admin: dict[str, str], catalog: list[str]
) -> None:
    await create_round(client, admin, "r1", catalog)
    enrolled = await client.post(
        f"{ADMIN}/rounds/r1/selections", json={"student_id": "s1", "offering_id": "run"}, headers=admin
    )
    assert enrolled.status_code == 201, enrolled.text
    problem = assert_problem(
        await client.patch(f"{ADMIN}/rounds/r1", json={"offering_ids": ["swim"]}, headers=admin),
        400,
        "validation_error",
    )
    assert problem["held"] == ["run"]
    assert (await edit(client, admin, "r1", offering_ids=["run", "yoga"]))["offering_ids"] == ["run", "yoga"]


@pytest.mark.parametrize("state", ["open", "paused", "closed"])
async def test_once_opened_only_what_is_safe(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection, state: str
) -> None:
    created = await create_round(client, admin, "r1", catalog, opens_at="2026-01-01T00:00:00Z")
    await move(
        client, admin, "r1", *{"open": ["open"], "paused": ["open", "pause"], "closed": ["open", "close"]}[state]
    )
    for body in (
        {"offering_ids": ["swim"]},
        {"opens_at": "2026-02-01T00:00:00Z"},
        {"limits": {"pe": 1}},
        {"waitlist": True},
        {"eligibility": {"cohorts": [2025]}},
        {"name": "x", "mode": "lottery"},
    ):
        problem = assert_problem(
            await client.patch(f"{ADMIN}/rounds/r1", json=body, headers=admin), 409, "round_not_draft"
        )
        assert problem["state"] == state
        assert problem["fields"] == [f for f in body if f != "name"]
        assert "name" in problem["editable"]
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).json()["name"] == created["name"]
    assert (await edit(client, admin, "r1", name="Renamed"))["name"] == "Renamed"
    closes = {"closes_at": "2031-01-01T00:00:00Z"}
    if state == "closed":
        assert_problem(await client.patch(f"{ADMIN}/rounds/r1", json=closes, headers=admin), 409, "round_not_draft")
    else:
        assert (await edit(client, admin, "r1", **closes))["closes_at"] == closes["closes_at"]
        before_opening = {"closes_at": "2025-12-31T00:00:00Z"}
        problem = assert_problem(
            await client.patch(f"{ADMIN}/rounds/r1", json=before_opening, headers=admin), 400, "validation_error"
        )
        assert problem["field"] == "closes_at"
    assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == state


async def test_unknown_round_and_bad_bodies(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    assert_problem(await client.patch(f"{ADMIN}/rounds/nope", json={"name": "x"}, headers=admin), 404, "not_found")
    await create_round(client, admin, "r1", catalog)
    for body in ({"id": "r2"}, {"state": "open"}, {"name": ""}, {"opens_at": "2026-09-01T08:00:00"}, {"colour": 1}):
        assert_problem(await client.patch(f"{ADMIN}/rounds/r1", json=body, headers=admin), 400, "validation_error")


async def test_a_student_may_not_edit(
    client: Client, catalog: list[str], admin: dict[str, str], as_student: Callable[[str], dict[str, str]]
) -> None:
    await create_round(client, admin, "r1", catalog)
    assert_problem(
        await client.patch(f"{ADMIN}/rounds/r1", json={"name": "x"}, headers=as_student("s1")), 403, "forbidden"
    )


async def test_the_gate_takes_a_moved_closing_time(
    client: Client, admin: dict[str, str], catalog: list[str], as_student: Callable[[str], dict[str, str]]
) -> None:
    """An open round's closing time is the gate's at once: brought forward, selects are refused;
    put back, or removed, they are taken again."""
    await create_round(client, admin, "r1", catalog, opens_at="2026-01-01T00:00:00Z")
    await move(client, admin, "r1", "open")
    select = "/api/v1/rounds/r1/selections"
    assert (await client.post(select, json={"offering_id": "swim"}, headers=as_student("s1"))).status_code == 201
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await edit(client, admin, "r1", closes_at=iso(past))
    refused = await client.post(select, json={"offering_id": "run"}, headers=as_student("s1"))
    assert assert_problem(refused, 409, "round_not_open")["state"] == "open"
    await edit(client, admin, "r1", closes_at=iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    assert (await client.post(select, json={"offering_id": "run"}, headers=as_student("s1"))).status_code == 201
    await edit(client, admin, "r1", closes_at=iso(past))
    assert_problem(
        await client.post(select, json={"offering_id": "yoga"}, headers=as_student("s2")), 409, "round_not_open"
    )
    await edit(client, admin, "r1", closes_at=None)
    assert (await client.post(select, json={"offering_id": "yoga"}, headers=as_student("s2"))).status_code == 201


async def test_the_gate_takes_a_drafts_new_rules(
    client: Client, admin: dict[str, str], catalog: list[str], as_student: Callable[[str], dict[str, str]]
) -> None:
    """A draft whose gate state was loaded at its creation: its new offerings and limits are the
    gate's when it opens."""
    await create_round(client, admin, "r1", ["swim"])
    await edit(client, admin, "r1", offering_ids=["swim", "run", "yoga"], limits={"pe": 1})
    await move(client, admin, "r1", "open")
    select = "/api/v1/rounds/r1/selections"
    assert (await client.post(select, json={"offering_id": "yoga"}, headers=as_student("s1"))).status_code == 201
    assert (await client.post(select, json={"offering_id": "run"}, headers=as_student("s1"))).status_code == 201
    limit = assert_problem(
        await client.post(select, json={"offering_id": "swim"}, headers=as_student("s1")), 409, "category_limit"
    )
    assert limit["limit"] == 1


async def test_the_upkeep_carries_a_closing_time_the_gate_missed(
    client: Client,
    admin: dict[str, str],
    catalog: list[str],
    db: asyncpg.Connection,
    as_student: Callable[[str], dict[str, str]],
) -> None:
    """A closing time recorded while Redis did not answer comes with a new state version, which
    the upkeep hands the gate within an interval or so."""
    await create_round(client, admin, "r1", catalog, opens_at="2026-01-01T00:00:00Z")
    await move(client, admin, "r1", "open")
    # What an edit leaves when its call to the gate fails: PostgreSQL's record alone.
    await db.execute(
        "UPDATE rounds SET closes_at = now() - interval '1 minute', state_version = state_version + 1 WHERE id = 'r1'"
    )
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        answer = await client.post(
            "/api/v1/rounds/r1/selections", json={"offering_id": "swim"}, headers=as_student("s1")
        )
        if answer.status_code == 409 and answer.json()["code"] == "round_not_open":
            break
        assert asyncio.get_running_loop().time() < deadline, answer.text
        await asyncio.sleep(0.1)
