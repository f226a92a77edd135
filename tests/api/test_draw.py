"""The lottery's draw through the administrators' routes: its answers, one transaction, the gate
loaded after it, the draw input, and concurrent draws."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from courses.draw import draw
from courses.draw_input import DrawInput
from courses.models import DrawResult
from lib import errors
from lib.settings import Settings
from selection.worker import Worker
from tests.builders import announce, once, weekly
from tests.catalog_data import ADMIN, Client, assert_problem, create_round, offering, put_offerings, student

Headers = Callable[[str], dict[str, str]]
SEED = "the seed"
WISHES = {
    "s1": ["swim", "yoga", "clay"],
    "s2": ["swim", "clay", "paint"],
    "s3": ["yoga", "paint", "clay"],
    "s4": ["clay", "paint"],
    "s5": ["swim"],
}


async def put_wishes(client: Client, as_student: Headers, round_id: str, wishes: dict[str, list[str]]) -> None:
    for sid, ids in wishes.items():
        response = await client.put(
            f"/api/v1/rounds/{round_id}/wishes", json={"offering_ids": ids}, headers=as_student(sid)
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def closed_lottery(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    """A closed lottery round with wish lists, and one seat an administrator gave before the draw."""
    await put_offerings(
        client,
        admin,
        offering("swim", capacity=1, schedule=[weekly("mon", "14:00", "15:00")]),
        offering("yoga", capacity=2, schedule=[weekly("mon", "14:30", "15:30")]),
        offering("clay", category="arts", capacity=2, schedule=[weekly("tue", "09:30", "10:30")]),
        # 2026-12-08 is a Tuesday: it conflicts with clay.
        offering("paint", category="arts", capacity=5, schedule=[once("2026-12-08", "09:00", "10:00")]),
        offering("fcfs-only"),
    )
    people = [student(f"s{i}") for i in range(1, 6)]
    assert (await client.put(f"{ADMIN}/students", json=people, headers=admin)).status_code == 200
    await create_round(
        client, admin, "lot", ["swim", "yoga", "clay", "paint"], mode="lottery", limits={"pe": 1, "total": 2}
    )
    await create_round(client, admin, "fcfs", ["fcfs-only"])
    assert (await client.post(f"{ADMIN}/rounds/lot/open", headers=admin)).status_code == 200
    await put_wishes(client, as_student, "lot", WISHES)
    assert (await client.post(f"{ADMIN}/rounds/lot/close", headers=admin)).status_code == 200
    await announce(client, "lot")
    forced = await client.post(
        f"{ADMIN}/rounds/lot/selections", json={"student_id": "s4", "offering_id": "clay"}, headers=admin
    )
    assert forced.status_code == 201, forced.text


async def run_draw(client: Client, admin: dict[str, str], seed: str = SEED, round_id: str = "lot") -> Any:
    return await client.post(f"{ADMIN}/rounds/{round_id}/draw", json={"seed": seed}, headers=admin)


async def selections(db: asyncpg.Connection) -> set[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT student_id, offering_id FROM selections WHERE round_id = 'lot' AND status = 'enrolled'"
    )
    return {(r["student_id"], r["offering_id"]) for r in rows}


@pytest.mark.usefixtures("closed_lottery")
async def test_draw_places_by_the_rules_and_answers_the_same_to_the_same_seed(
    client: Client, admin: dict[str, str], as_student: Headers, db: asyncpg.Connection
) -> None:
    before = (await client.get(f"{ADMIN}/rounds/lot/draw-input", headers=admin)).json()
    assert before["seed"] is None
    assert before["placements"] is None
    assert before["held_seats"] == [{"student_id": "s4", "offering_id": "clay"}]
    assert [s["id"] for s in before["students"]] == ["s1", "s2", "s3", "s4", "s5"]
    response = await run_draw(client, admin)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["round_id"] == "lot"
    assert result["seed"] == SEED
    assert result["seed_sha256"] == hashlib.sha256(SEED.encode()).hexdigest()
    assert result["students"] == 5
    placed = await selections(db)
    # Every rule holds in what the draw gave, held seats included.
    swim_or_yoga = [p for p in placed if p[1] in ("swim", "yoga")]
    assert len([p for p in placed if p[1] == "swim"]) <= 1
    assert len([p for p in placed if p[1] == "clay"]) <= 2
    for sid in WISHES:
        mine = {o for s, o in placed if s == sid}
        assert len(mine) <= 2, (sid, mine)
        assert len(mine & {"swim", "yoga"}) <= 1
        assert not {"clay", "paint"} <= mine  # they conflict (a Tuesday)
    assert ("s4", "clay") in placed
    assert ("s4", "paint") not in placed  # conflicts with the seat s4 held before the draw
    assert result["enrolled"] == len(placed) - 1
    assert result["unplaced"] == sum(
        1 for sid in WISHES if not any(s == sid for s, o in placed if (s, o) != ("s4", "clay"))
    )
    assert swim_or_yoga
    # The service's draw is the pure function's on the exported document.
    after = (await client.get(f"{ADMIN}/rounds/lot/draw-input", headers=admin)).json()
    decoded = msgspec.convert(after, DrawInput)
    assert decoded.placements == draw(decoded, SEED)
    assert {(p.student_id, p.offering_id) for p in decoded.placements or []} == placed - {("s4", "clay")}
    # Audit: one event per placement, one with the seed.
    actions = await db.fetch("SELECT action, count(*) AS n FROM audit_events WHERE round_id = 'lot' GROUP BY action")
    counts = {r["action"]: r["n"] for r in actions}
    assert counts["draw"] == result["enrolled"]
    assert counts["round.draw"] == 1
    detail = await db.fetchval("SELECT detail FROM audit_events WHERE action = 'round.draw'")
    assert SEED in detail
    assert result["seed_sha256"] in detail
    assert "5 wish list(s)" in detail
    # Drawn once: the same seed answers the same and changes nothing; another seed is refused.
    again = await run_draw(client, admin)
    assert (again.status_code, again.json()) == (200, result)
    assert await selections(db) == placed
    assert_problem(await run_draw(client, admin, "another seed"), 409, "invalid_transition")
    # The gate counts the drawn seats: each student sees theirs, and no seat is given twice.
    for sid in WISHES:
        mine = (await client.get("/api/v1/rounds/lot/selections", headers=as_student(sid))).json()
        assert {(sid, s["offering_id"]) for s in mine} == {p for p in placed if p[0] == sid}
    stats = (await client.get(f"{ADMIN}/rounds/lot/stats", headers=admin)).json()
    assert stats["selections"] == len(placed)
    if ("s1", "swim") not in placed:
        refused = await client.post(
            f"{ADMIN}/rounds/lot/selections", json={"student_id": "s1", "offering_id": "swim"}, headers=admin
        )
        assert refused.status_code == 409  # full, over a limit or in conflict: never a second seat


@pytest.mark.usefixtures("closed_lottery")
async def test_refusals(client: Client, admin: dict[str, str], as_student: Headers) -> None:
    assert_problem(await run_draw(client, admin, round_id="nowhere"), 404, "not_found")
    assert_problem(await run_draw(client, admin, round_id="fcfs"), 409, "wrong_mode")
    assert_problem(await client.get(f"{ADMIN}/rounds/fcfs/draw-input", headers=admin), 409, "wrong_mode")
    assert_problem(await client.get(f"{ADMIN}/rounds/nowhere/draw-input", headers=admin), 404, "not_found")
    for body in ({}, {"seed": ""}, {"seed": "x" * 129}, {"seed": "tab\there"}, {"seed": "s", "more": 1}):
        bad = await client.post(f"{ADMIN}/rounds/lot/draw", json=body, headers=admin)
        assert_problem(bad, 400, "validation_error")
    assert_problem(
        await client.post(f"{ADMIN}/rounds/lot/draw", json={"seed": "s"}, headers=as_student("s1")), 403, "forbidden"
    )
    # Not closed yet: a lottery round open (or a draft) is not drawn.
    await create_round(client, admin, "open-lot", ["swim"], mode="lottery")
    assert_problem(await run_draw(client, admin, round_id="open-lot"), 409, "invalid_transition")
    assert (await client.post(f"{ADMIN}/rounds/open-lot/open", headers=admin)).status_code == 200
    assert_problem(await run_draw(client, admin, round_id="open-lot"), 409, "invalid_transition")


async def test_a_committed_seed_must_be_revealed(
    client: Client, admin: dict[str, str], as_student: Headers, db: asyncpg.Connection
) -> None:
    await put_offerings(client, admin, offering("swim", capacity=3))
    assert (await client.put(f"{ADMIN}/students", json=[student("s1")], headers=admin)).status_code == 200
    digest = hashlib.sha256(b"revealed later").hexdigest()
    await create_round(client, admin, "c", ["swim"], mode="lottery", seed_sha256=digest)
    assert (await client.post(f"{ADMIN}/rounds/c/open", headers=admin)).status_code == 200
    await put_wishes(client, as_student, "c", {"s1": ["swim"]})
    assert (await client.post(f"{ADMIN}/rounds/c/close", headers=admin)).status_code == 200
    exported = (await client.get(f"{ADMIN}/rounds/c/draw-input", headers=admin)).json()
    assert (exported["seed"], exported["seed_sha256"]) == (None, digest)
    assert_problem(await run_draw(client, admin, "a guess", round_id="c"), 400, "validation_error")
    assert await db.fetchval("SELECT drawn_seed FROM rounds WHERE id = 'c'") is None
    response = await run_draw(client, admin, "revealed later", round_id="c")
    assert response.status_code == 200, response.text
    assert (response.json()["enrolled"], response.json()["seed_sha256"]) == (1, digest)


@pytest.mark.usefixtures("closed_lottery")
async def test_concurrent_draws_one_wins(client: Client, admin: dict[str, str], db: asyncpg.Connection) -> None:
    answers = await asyncio.gather(*(run_draw(client, admin, f"seed {i}") for i in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409], [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert await db.fetchval("SELECT drawn_seed FROM rounds WHERE id = 'lot'") == winner["seed"]
    assert await db.fetchval("SELECT count(*) FROM draw_placements WHERE round_id = 'lot'") == winner["enrolled"]
    assert len(await selections(db)) == winner["enrolled"] + 1


async def nothing_drawn(db: asyncpg.Connection) -> None:
    assert await selections(db) == {("s4", "clay")}
    assert await db.fetchval("SELECT count(*) FROM draw_placements") == 0
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE action IN ('draw', 'round.draw')") == 0
    row = await db.fetchrow("SELECT drawn_seed, drawn_at, draw_result, draw_input FROM rounds WHERE id = 'lot'")
    assert row is not None
    assert all(row[k] is None for k in ("drawn_seed", "drawn_at", "draw_result", "draw_input"))


@pytest.mark.usefixtures("closed_lottery")
async def test_a_draw_that_fails_after_its_inserts_leaves_nothing(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    """PostgreSQL refuses the draw's last statement (marking the round drawn), after every
    placement was inserted: the whole draw is rolled back."""
    await db.execute(
        """CREATE FUNCTION refuse_draw() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
           CREATE TRIGGER refuse_draw BEFORE UPDATE OF drawn_seed ON rounds
           FOR EACH ROW WHEN (NEW.drawn_seed IS NOT NULL) EXECUTE FUNCTION refuse_draw();"""
    )
    response = await run_draw(client, admin)
    assert response.status_code >= 500, response.text
    await nothing_drawn(db)
    await db.execute("DROP TRIGGER refuse_draw ON rounds")
    assert (await run_draw(client, admin)).status_code == 200


@pytest.mark.usefixtures("closed_lottery")
async def test_a_draw_whose_connection_dies_leaves_nothing(
    client: Client, admin: dict[str, str], db: asyncpg.Connection
) -> None:
    """The draw's connection is terminated by PostgreSQL at its last statement, after every
    placement was inserted: nothing of it is left."""
    await db.execute(
        """CREATE FUNCTION kill_draw() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); RETURN NEW; END $$;
           CREATE TRIGGER kill_draw BEFORE UPDATE OF drawn_seed ON rounds
           FOR EACH ROW WHEN (NEW.drawn_seed IS NOT NULL) EXECUTE FUNCTION kill_draw();"""
    )
    response = await run_draw(client, admin)
    assert_problem(response, 503, "unavailable")
    await nothing_drawn(db)
    await db.execute("DROP TRIGGER kill_draw ON rounds")
    assert (await run_draw(client, admin)).status_code == 200


@pytest.mark.usefixtures("closed_lottery")
async def test_truly_concurrent_draws_one_wins(settings: Settings, db: asyncpg.Connection) -> None:
    """Draws on one event loop, each on a connection of its own, at the same time."""
    worker = await Worker.start(settings)
    try:
        answers = await asyncio.gather(
            *(worker.lottery.draw("lot", f"seed {i}", "admin-1") for i in range(4)), return_exceptions=True
        )
    finally:
        await worker.close()
    won = [a for a in answers if isinstance(a, DrawResult)]
    lost = [a for a in answers if isinstance(a, errors.InvalidTransition)]
    assert (len(won), len(lost)) == (1, 3), answers
    assert await db.fetchval("SELECT count(*) FROM draw_placements WHERE round_id = 'lot'") == won[0].enrolled
    assert len(await selections(db)) == won[0].enrolled + 1


async def test_draw_input_is_documented_with_an_example(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    rounds = "/api/v1/admin/rounds/{round_id}"
    exported = document["paths"][rounds + "/draw-input"]["get"]["responses"]["200"]["content"]["application/json"]
    assert exported["schema"] == {"$ref": "#/components/schemas/DrawInput"}
    assert exported["examples"]
    drawn = document["paths"][rounds + "/draw"]["post"]["responses"]
    assert {"200", "400", "404", "409"} <= set(drawn)
    assert "wrong_mode" in drawn["409"]["description"]
    wishes = document["paths"]["/api/v1/rounds/{round_id}/wishes"]
    assert {"get", "put"} <= set(wishes)
