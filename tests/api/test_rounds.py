"""Rounds: creation rules, reads, and the state machine draft → open ⇄ paused → closed."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings

ACTIONS = ("open", "pause", "close")
#: (state, action) → the state it leads to; every pair not here is an invalid transition.
ALLOWED = {
    ("draft", "open"): "open",
    ("open", "pause"): "paused",
    ("paused", "open"): "open",
    ("open", "close"): "closed",
    ("paused", "close"): "closed",
}
#: How to bring a fresh draft round into each state.
PATH_TO = {"draft": (), "open": ("open",), "paused": ("open", "pause"), "closed": ("open", "close")}


@pytest.fixture
async def catalog(client: Client, admin: dict[str, str]) -> list[str]:
    await put_offerings(client, admin, offering("swim"), offering("yoga", category="arts"))
    return ["swim", "yoga"]


async def test_create_defaults_and_round_trip(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    created = await create_round(client, admin, "r1", catalog)
    assert created == {
        "id": "r1",
        "name": "Round r1",
        "mode": "fcfs",
        "state": "draft",
        "opens_at": None,
        "closes_at": None,
        "offering_ids": ["swim", "yoga"],
        "eligibility": {"cohorts": [], "degrees": [], "campuses": []},
        "limits": {},
        "allow_drop": True,
        "waitlist": False,
        "fair_start_seconds": 0,
        "continues": None,
        "seed_sha256": None,
        "fair_start_seed": None,
        "drawn_seed": None,
    }
    got = await client.get(f"{ADMIN}/rounds/r1", headers=admin)
    assert got.status_code == 200
    assert got.json() == created


async def test_create_every_field(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    fields = {
        "opens_at": "2026-09-01T08:00:00Z",
        "closes_at": "2026-09-03T18:00:00Z",
        "eligibility": {"cohorts": [2024, 2025], "degrees": ["phd"], "campuses": ["north"]},
        "limits": {"pe": 1, "arts": 2, "labor": 2, "total": 4},
        "allow_drop": False,
        "waitlist": True,
    }
    created = await create_round(client, admin, "r1", ["yoga", "swim"], **fields)
    assert {k: created[k] for k in fields} == fields
    assert created["offering_ids"] == ["yoga", "swim"]
    listed = await client.get(f"{ADMIN}/rounds", headers=admin)
    assert listed.json() == [created]


async def test_create_audited(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "r1", catalog)
    await client.post(f"{ADMIN}/rounds/r1/open", headers=admin)
    rows = await db.fetch(
        "SELECT actor, role, action, round_id, outcome FROM audit_events WHERE round_id = 'r1' ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("admin-1", "admin", "round.create", "r1", "ok"),
        ("admin-1", "admin", "round.open", "r1", "ok"),
    ]


async def test_list_in_creation_order(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    assert (await client.get(f"{ADMIN}/rounds", headers=admin)).json() == []
    for round_id in ("b", "a", "c"):
        await create_round(client, admin, round_id, catalog)
    assert [r["id"] for r in (await client.get(f"{ADMIN}/rounds", headers=admin)).json()] == ["b", "a", "c"]


async def test_taken_id_is_already_exists(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    await create_round(client, admin, "r1", catalog)
    response = await client.post(
        f"{ADMIN}/rounds", json={"id": "r1", "name": "again", "offering_ids": []}, headers=admin
    )
    assert_problem(response, 409, "already_exists")
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).json()["name"] == "Round r1"


@pytest.mark.parametrize(
    ("opens_at", "closes_at"),
    [("2026-09-01T08:00:00Z", "2026-09-01T08:00:00Z"), ("2026-09-02T08:00:00Z", "2026-09-01T08:00:00Z")],
)
async def test_closes_at_not_after_opens_at(
    client: Client, admin: dict[str, str], catalog: list[str], opens_at: str, closes_at: str
) -> None:
    body = {"id": "r1", "name": "r", "offering_ids": catalog, "opens_at": opens_at, "closes_at": closes_at}
    response = await client.post(f"{ADMIN}/rounds", json=body, headers=admin)
    assert_problem(response, 400, "validation_error")
    assert (await client.get(f"{ADMIN}/rounds", headers=admin)).json() == []


async def test_unknown_offering_is_validation_error(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    body = {"id": "r1", "name": "r", "offering_ids": ["swim", "nope"]}
    problem = assert_problem(await client.post(f"{ADMIN}/rounds", json=body, headers=admin), 400, "validation_error")
    assert "nope" in problem["detail"]
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"id": "r1", "name": "r", "offering_ids": ["swim", "swim"]},
        {"id": "r 1", "name": "r", "offering_ids": []},
        {"id": "r1", "offering_ids": []},
        {"id": "r1", "name": "r", "offering_ids": [], "colour": "red"},
        {"id": "r1", "name": "r", "offering_ids": [], "state": "open"},
        {"id": "r1", "name": "r", "offering_ids": [], "mode": "auction"},
        {"id": "r1", "name": "r", "offering_ids": [], "limits": {"sports": 1}},
        {"id": "r1", "name": "r", "offering_ids": [], "opens_at": "2026-09-01T08:00:00"},
    ],
    ids=["duplicate offering", "bad id", "no name", "unknown field", "not draft", "mode", "limit key", "no offset"],
)
async def test_bad_round_bodies(
    client: Client, admin: dict[str, str], catalog: list[str], body: dict[str, object]
) -> None:
    assert_problem(await client.post(f"{ADMIN}/rounds", json=body, headers=admin), 400, "validation_error")


async def test_unknown_round_is_not_found(client: Client, admin: dict[str, str]) -> None:
    assert_problem(await client.get(f"{ADMIN}/rounds/nope", headers=admin), 404, "not_found")
    for action in ACTIONS:
        assert_problem(await client.post(f"{ADMIN}/rounds/nope/{action}", headers=admin), 404, "not_found")


@pytest.mark.parametrize("bad", ["x" * 65, "bad%20id", "a%2Cb", "caf%C3%A9"])
async def test_bad_path_id_is_validation_error(client: Client, admin: dict[str, str], bad: str) -> None:
    assert_problem(await client.get(f"{ADMIN}/rounds/{bad}", headers=admin), 400, "validation_error")
    for action in ACTIONS:
        assert_problem(await client.post(f"{ADMIN}/rounds/{bad}/{action}", headers=admin), 400, "validation_error")


@pytest.mark.parametrize("state", list(PATH_TO))
@pytest.mark.parametrize("action", ACTIONS)
async def test_state_machine(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection, state: str, action: str
) -> None:
    await create_round(client, admin, "r1", catalog)
    for step in PATH_TO[state]:
        assert (await client.post(f"{ADMIN}/rounds/r1/{step}", headers=admin)).status_code == 200
    events = await db.fetchval("SELECT count(*) FROM audit_events")
    response = await client.post(f"{ADMIN}/rounds/r1/{action}", headers=admin)
    target = ALLOWED.get((state, action))
    if target is None:
        problem = assert_problem(response, 409, "invalid_transition")
        assert problem["state"] == state
        assert await db.fetchval("SELECT state FROM rounds WHERE id = 'r1'") == state
        assert await db.fetchval("SELECT count(*) FROM audit_events") == events
    else:
        assert response.status_code == 200, response.text
        assert response.json()["state"] == target
        assert response.json()["offering_ids"] == catalog
        assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).json()["state"] == target
        action_logged = await db.fetchval("SELECT action FROM audit_events ORDER BY id DESC LIMIT 1")
        assert action_logged == f"round.{action}"


async def test_concurrent_opens_one_wins(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "r1", catalog)
    answers = await asyncio.gather(*(client.post(f"{ADMIN}/rounds/r1/open", headers=admin) for _ in range(8)))
    assert [a.status_code for a in answers].count(200) == 1
    for answer in answers:
        if answer.status_code != 200:
            assert_problem(answer, 409, "invalid_transition")
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'round.open'") == 1
