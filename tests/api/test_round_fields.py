"""The fair rounds' fields of a round: defaults, checks on create, the seeds administrators see,
and a round that continues another (its selections carried over when it first opens)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import asyncpg
import pytest

from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings, student

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
async def catalog(client: Client, admin: dict[str, str]) -> list[str]:
    await put_offerings(
        client,
        admin,
        offering("swim", capacity=1),
        offering("yoga", category="arts", capacity=5),
        offering("clay", category="arts", capacity=5),
    )
    response = await client.put(f"{ADMIN}/students", json=[student("s1"), student("s2"), student("s3")], headers=admin)
    assert response.status_code == 200, response.text
    return ["swim", "yoga", "clay"]


async def test_new_fields_default_and_students_do_not_see_the_seeds(
    client: Client, admin: dict[str, str], as_student: Headers, catalog: list[str]
) -> None:
    created = await create_round(client, admin, "r1", catalog)
    assert {k: created[k] for k in ("fair_start_seconds", "continues", "seed_sha256")} == {
        "fair_start_seconds": 0,
        "continues": None,
        "seed_sha256": None,
    }
    assert created["fair_start_seed"] is None
    assert created["drawn_seed"] is None
    assert (await client.post(f"{ADMIN}/rounds/r1/open", headers=admin)).status_code == 200
    seen = (await client.get("/api/v1/rounds", headers=as_student("s1"))).json()
    assert [r["id"] for r in seen] == ["r1"]
    assert "fair_start_seed" not in seen[0]
    assert "drawn_seed" not in seen[0]
    assert seen[0]["fair_start_seconds"] == 0
    assert seen[0]["continues"] is None


async def test_seed_commitment_is_kept_lower_case(client: Client, admin: dict[str, str], catalog: list[str]) -> None:
    digest = hashlib.sha256(b"a secret seed").hexdigest()
    created = await create_round(client, admin, "lot", catalog, mode="lottery", seed_sha256=digest.upper())
    assert created["seed_sha256"] == digest


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"fair_start_seconds": 601}, "fair_start_seconds"),
        ({"fair_start_seconds": -1}, "fair_start_seconds"),
        ({"fair_start_seconds": 1.5}, "fair_start_seconds"),
        ({"mode": "lottery", "fair_start_seconds": 10}, "fair_start_seconds"),
        ({"seed_sha256": "ab" * 32}, "seed_sha256"),
        ({"mode": "lottery", "seed_sha256": "zz" * 32}, "seed_sha256"),
        ({"mode": "lottery", "seed_sha256": "ab" * 31}, "seed_sha256"),
        ({"continues": "nowhere"}, "continues"),
        ({"continues": "bad id!"}, "continues"),
    ],
)
async def test_bad_fields_are_refused_and_change_nothing(
    client: Client, admin: dict[str, str], catalog: list[str], fields: dict[str, object], field: str
) -> None:
    body = {"id": "r1", "name": "R", "offering_ids": catalog} | fields
    problem = assert_problem(await client.post(f"{ADMIN}/rounds", json=body, headers=admin), 400, "validation_error")
    assert field in problem["detail"] or problem.get("field") == field, problem
    assert (await client.get(f"{ADMIN}/rounds/r1", headers=admin)).status_code == 404


async def test_a_continuing_round_offers_everything_the_continued_one_does(
    client: Client, admin: dict[str, str], catalog: list[str]
) -> None:
    await create_round(client, admin, "first", catalog)
    body = {"id": "second", "name": "R", "offering_ids": ["swim", "yoga"], "continues": "first"}
    problem = assert_problem(await client.post(f"{ADMIN}/rounds", json=body, headers=admin), 400, "validation_error")
    assert problem["missing"] == ["clay"]


async def test_fair_start_seed_is_set_on_first_open_audited_and_kept(
    client: Client, admin: dict[str, str], catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "r1", catalog, fair_start_seconds=5)
    opened = (await client.post(f"{ADMIN}/rounds/r1/open", headers=admin)).json()
    seed = opened["fair_start_seed"]
    assert isinstance(seed, str)
    assert len(seed) >= 16
    await client.post(f"{ADMIN}/rounds/r1/pause", headers=admin)
    reopened = (await client.post(f"{ADMIN}/rounds/r1/open", headers=admin)).json()
    assert reopened["fair_start_seed"] == seed
    details = [r["detail"] for r in await db.fetch("SELECT detail FROM audit_events WHERE action = 'round.open'")]
    assert seed in details[0]
    # A round without a window has no seed to show.
    await create_round(client, admin, "r2", catalog)
    assert (await client.post(f"{ADMIN}/rounds/r2/open", headers=admin)).json()["fair_start_seed"] is None


async def select(
    client: Client, headers: dict[str, str], round_id: str, offering_id: str, waitlist: bool = False
) -> int:
    response = await client.post(
        f"/api/v1/rounds/{round_id}/selections",
        json={"offering_id": offering_id, "waitlist": waitlist},
        headers=headers,
    )
    return response.status_code


async def test_a_round_continues_another_when_it_opens(
    client: Client, admin: dict[str, str], as_student: Headers, catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "first", catalog, waitlist=True, limits={"arts": 1})
    await client.post(f"{ADMIN}/rounds/first/open", headers=admin)
    assert await select(client, as_student("s1"), "first", "swim") == 201
    assert await select(client, as_student("s2"), "first", "swim", waitlist=True) == 202
    assert await select(client, as_student("s3"), "first", "swim", waitlist=True) == 202
    assert await select(client, as_student("s1"), "first", "yoga") == 201
    await create_round(client, admin, "second", catalog, continues="first", waitlist=True, limits={"arts": 1})

    # Not before the continued round is closed: its outcome is not final.
    assert_problem(await client.post(f"{ADMIN}/rounds/second/open", headers=admin), 409, "invalid_transition")
    assert (await client.post(f"{ADMIN}/rounds/first/close", headers=admin)).status_code == 200
    assert (await client.post(f"{ADMIN}/rounds/second/open", headers=admin)).status_code == 200

    mine = (await client.get("/api/v1/rounds/second/selections", headers=as_student("s1"))).json()
    assert sorted((s["offering_id"], s["status"]) for s in mine) == [("swim", "enrolled"), ("yoga", "enrolled")]
    waiting = (await client.get("/api/v1/rounds/second/selections", headers=as_student("s3"))).json()
    assert [(s["offering_id"], s["status"], s["position"]) for s in waiting] == [("swim", "waitlisted", 2)]
    audited = await db.fetch(
        "SELECT student_id, offering_id, outcome, detail FROM audit_events"
        " WHERE round_id = 'second' AND action = 'carry_over'"
    )
    assert sorted(tuple(r) for r in audited) == [
        ("s1", "swim", "ok", "from round first (enrolled)"),
        ("s1", "yoga", "ok", "from round first (enrolled)"),
        ("s2", "swim", "ok", "from round first (waitlisted)"),
        ("s3", "swim", "ok", "from round first (waitlisted)"),
    ]

    # The gate counts the carried seats and limits: swim is full, the arts limit is reached.
    assert await select(client, as_student("s3"), "second", "clay") == 201
    refused = await client.post(
        "/api/v1/rounds/second/selections", json={"offering_id": "clay"}, headers=as_student("s1")
    )
    assert_problem(refused, 409, "category_limit")
    # A carried selection is dropped like any other, and the first in line is promoted.
    dropped = await client.delete("/api/v1/rounds/second/selections/swim", headers=as_student("s1"))
    assert dropped.status_code == 204
    promoted = (await client.get("/api/v1/rounds/second/selections", headers=as_student("s2"))).json()
    assert [(s["offering_id"], s["status"]) for s in promoted] == [("swim", "enrolled")]
    # The continued round keeps its own outcome.
    first = (await client.get("/api/v1/rounds/first/selections", headers=as_student("s1"))).json()
    assert sorted(s["offering_id"] for s in first) == ["swim", "yoga"]


async def test_only_the_first_opening_carries_over(
    client: Client, admin: dict[str, str], as_student: Headers, catalog: list[str], db: asyncpg.Connection
) -> None:
    await create_round(client, admin, "first", catalog)
    await client.post(f"{ADMIN}/rounds/first/open", headers=admin)
    assert await select(client, as_student("s1"), "first", "yoga") == 201
    await client.post(f"{ADMIN}/rounds/first/close", headers=admin)
    await create_round(client, admin, "second", catalog, continues="first")
    await client.post(f"{ADMIN}/rounds/second/open", headers=admin)
    # The opening retired the gate state; until a worker has rebuilt it a change is 503, safe to repeat.
    for _ in range(50):
        dropped = await client.delete("/api/v1/rounds/second/selections/yoga", headers=as_student("s1"))
        if dropped.status_code != 503:
            break
        await asyncio.sleep(0.1)
    assert dropped.status_code == 204
    await client.post(f"{ADMIN}/rounds/second/pause", headers=admin)
    await client.post(f"{ADMIN}/rounds/second/open", headers=admin)
    assert (await client.get("/api/v1/rounds/second/selections", headers=as_student("s1"))).json() == []
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action = 'carry_over'") == 1
